// `clarus anonymize` over the CLARUS eHealth set with a SecurityPolicy: the report, and the written
// CSV checked with the independent checker.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { achievedK, achievedT, codePointOrder } from '@clarus/testing/anonymity.ts';
import { main } from './anonymize.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';

const DATA = clarusFile('data_clarus2.txt');
const dir = mkdtempSync(join(tmpdir(), 'clarus-anonymize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policy = (t: string) => `apiVersion: clarus.io/v1alpha1
kind: SecurityPolicy
metadata: { name: ehealth }
spec:
  backends: [cloud]
  keyring: { secretName: keys }
  attributeTypes:
    quasiIdentifier: { anonymize: { kAnonymity: { k: 5${t} } } }
  datasets:
    - name: episodes
      table: episode
      columns:
        - { name: ep_id, attributeType: nonConfidential }
        - { name: ep_age, attributeType: quasiIdentifier }
        - { name: ep_range, attributeType: quasiIdentifier }
        - { name: dis_adm, attributeType: quasiIdentifier }
        - { name: dis_dis, attributeType: quasiIdentifier }
        - { name: dis_days, attributeType: quasiIdentifier }
        - { name: pat_gen, attributeType: quasiIdentifier }
        - { name: pat_zip, attributeType: quasiIdentifier }
        - { name: dia_id, attributeType: confidential }
`;

function io() {
  const o = { out: '', err: '' };
  return { o, io: { out: (s: string) => { o.out += s; }, err: (s: string) => { o.err += s; } } };
}

describe('clarus anonymize', () => {
  it('prints the report and writes a k-anonymous, t-close CSV', async () => {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, policy(', tCloseness: 0.1'));
    const out = join(dir, 'out.csv');
    const { o, io: cap } = io();
    expect(await main(['-f', file, '--dataset', 'episodes', '--out', out, DATA], cap)).toBe(0);
    expect(o.out).toMatch(/34025 records in \d+ classes, achieved k=5, t=0\.\d+/);
    const rows = readFileSync(out, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(','));
    expect(rows.length).toBe(34_025);
    expect(achievedK(rows, [1, 2, 4, 5, 6, 8, 9])).toBeGreaterThanOrEqual(5);
    expect(achievedT(rows, [1, 2, 4, 5, 6, 8, 9], 10, codePointOrder)).toBeLessThanOrEqual(0.1);
  }, 120_000);

  it('says why a file cannot be anonymized, and what is missing', async () => {
    const file = join(dir, 'p2.yaml');
    writeFileSync(file, policy(''));
    const small = join(dir, 'small.csv');
    writeFileSync(small, readFileSync(DATA, 'utf8').split('\n').slice(0, 4).join('\n'));
    const a = io();
    expect(await main(['-f', file, '--dataset', 'episodes', small], a.io)).toBe(1);
    expect(a.o.err).toMatch(/at least 5 records to be anonymized, this one has 3; nothing was stored/);
    const b = io();
    expect(await main(['-f', file, '--dataset', 'nope', small], b.io)).toBe(1);
    expect(b.o.err).toMatch(/no SecurityPolicy dataset named nope/);
    expect(await main([], io().io)).toBe(2);
  });
});
