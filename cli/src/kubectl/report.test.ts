// kubectl clarus: the reports over cluster objects, and `audit verify|tail` over a real audit log that
// the proxy's AuditFile wrote and rotated by size (the chain continues across files; an edited line
// is found, with its file and line).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AccessGrant, ClarusProxy } from '@clarus/crds/types.ts';
import { AuditFile } from '@clarus/sidecar/access/audit-file.ts';
import { expiringSoon, grantsTable, proxiesTable } from './report.ts';
import { main } from './main.ts';

const NOW = new Date('2026-12-01T12:00:00Z');
const grant = (name: string, user: string, expires?: string): AccessGrant => ({
  apiVersion: 'clarus.io/v1alpha1', kind: 'AccessGrant', metadata: { name, namespace: 'hospital' },
  spec: { proxyRef: { name: 'ehealth-proxy' }, subject: { user, passwordSecretRef: { name: 'pw' } }, datasets: ['visits', 'patients'], access: 'read', view: 'masked', ...(expires ? { expires } : {}) },
});

describe('reports', () => {
  it('lists grants by subject with datasets, access, view and time left, and picks those expiring soon', () => {
    const grants = [grant('g-bob', 'bob', '2026-12-04T12:00:00Z'), grant('g-ann', 'ann'), grant('g-old', 'carl', '2026-11-01T00:00:00Z'), grant('g-late', 'dan', '2027-06-01T00:00:00Z')];
    const table = grantsTable(grants, NOW).split('\n');
    expect(table[0]).toMatch(/^SUBJECT\s+PROXY\s+DATASETS\s+ACCESS\s+VIEW\s+UNTIL\s+GRANT$/);
    expect(table.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      ['user ann', 'ehealth-proxy', 'patients,visits', 'read', 'masked', 'no expiry', 'g-ann'],
      ['user bob', 'ehealth-proxy', 'patients,visits', 'read', 'masked', '2026-12-04T12:00:00Z (3d left)', 'g-bob'],
      ['user carl', 'ehealth-proxy', 'patients,visits', 'read', 'masked', '2026-11-01T00:00:00Z (expired)', 'g-old'],
      ['user dan', 'ehealth-proxy', 'patients,visits', 'read', 'masked', '2027-06-01T00:00:00Z (182d left)', 'g-late'],
    ]);
    expect(expiringSoon(grants, NOW, 7).map((g) => g.metadata.name)).toEqual(['g-bob', 'g-old']);
  });

  it('shows each proxy\'s ready replicas, policy, config hash and Ready condition', () => {
    const p = (name: string, extra: Record<string, unknown>): ClarusProxy => ({ apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', metadata: { name }, spec: { policyRef: { name: 'ehealth' }, replicas: 2 }, ...extra }) as ClarusProxy;
    const t = proxiesTable([
      p('b', { status: { readyReplicas: 1, replicas: 2, policyHash: 'sha256:0123456789abcdef0123', conditions: [{ type: 'Ready', status: 'False', reason: 'RolloutInProgress' }] } }),
      p('a', { status: { readyReplicas: 2, replicas: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready' }] } }),
    ]).split('\n').slice(1).map((l) => l.split(/\s{2,}/));
    expect(t).toEqual([['a', 'Deployment', '2/2', 'ehealth', '-', 'True'], ['b', 'Deployment', '1/2', 'ehealth', 'sha256:0123456789ab', 'False (RolloutInProgress)']]);
  });
});

describe('audit verify|tail over a rotated log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-kubectl-audit-'));
  const file = join(dir, 'audit.jsonl');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = async (...argv: string[]) => {
    let out = '';
    const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { out += s; } });
    return { code, out };
  };

  it('verifies the chain across the rotated files, filters decisions, and finds an edited line', async () => {
    const log = new AuditFile(file, { maxBytes: 600 });
    for (let i = 0; i < 12; i++) {
      log.append({ time: `2026-12-01T10:00:${String(i).padStart(2, '0')}Z`, user: i % 3 === 0 ? 'eve' : 'bob', datasets: i % 2 ? ['patients'] : ['visits'], columns: [], fingerprint: `f${i}`, outcome: i % 4 === 0 ? 'refuse' : 'allow', ...(i % 4 === 0 ? { code: '42501' } : {}) });
    }
    log.close();
    // 600 bytes hold three decisions: four files, none lost to a rotation in the same millisecond.
    expect(readdirSync(dir).length).toBe(4);
    expect(await run('audit', 'verify', file)).toEqual({ code: 0, out: `ok: 12 decisions in ${readdirSync(dir).length} file(s)\n` });
    const tail = await run('audit', 'tail', file, '--user', 'eve', '--outcome', 'refuse');
    expect(tail.out.split('\n').slice(1, -1).map((l) => l.split(/\s{2,}/).slice(0, 4))).toEqual([['2026-12-01T10:00:00Z', 'eve', 'refuse', '42501']]);
    expect((await run('audit', 'tail', file, '--dataset', 'patients', '--lines', '2')).out.split('\n').slice(1, -1).map((l) => l.split(/\s{2,}/)[0])).toEqual(['2026-12-01T10:00:09Z', '2026-12-01T10:00:11Z']);
    const all = (await run('audit', 'query', file, '--user', 'bob')).out.split('\n').slice(1, -1);
    expect(all.map((l) => l.split(/\s{2,}/)[0])).toEqual([1, 2, 4, 5, 7, 8, 10, 11].map((i) => `2026-12-01T10:00:${String(i).padStart(2, '0')}Z`));
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('"bob"', '"mallory"'));
    const broken = await run('audit', 'verify', file);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/^BROKEN: .*audit\.jsonl line \d+: /);
  });
});
