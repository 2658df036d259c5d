// Key rotation end to end: rows written under key version 1; the keyring gains version 2 (new
// writes use it, old rows still decrypt and are still found by equality); `clarus keys reencrypt`
// moves every row to version 2 through the proxy, in batches, resuming after an interruption;
// finally version 1 is removed from the keyring and everything still reads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { main as reencryptMain, reencrypt } from '../../src/access/reencrypt.ts';
import { emptyState, reencryptTargets } from '../../src/protection/reencrypt-plan.ts';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { CREATE_PATIENT, USERS, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

const V2 = Buffer.alloc(32, 0x77).toString('base64');
const policyWith = (versions: number[], current: number): RuntimePolicy => ({
  ...EHEALTH_POLICY, keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions, current }] },
});
const ROWS = 23;

let cluster: PgCluster;
const envs: ProtectedEnv[] = [];
const clients: pg.Client[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'clarus-rotation-'));

async function proxyWith(versions: number[], current: number): Promise<{ env: ProtectedEnv; client: pg.Client }> {
  const files = new Map<string, string>();
  if (versions.includes(1)) files.set('default.v1', TEST_KEY_FILES.get('default.v1') as string);
  if (versions.includes(2)) files.set('default.v2', V2);
  const env = await startProtected(cluster, policyWith(versions, current), files);
  envs.push(env);
  const client = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await client.connect();
  clients.push(client);
  return { env, client };
}

/** Key versions found in the stored ciphertext headers (bytes 6..7) of the encrypted columns. */
async function storedVersions(env: ProtectedEnv): Promise<number[]> {
  const r = await env.backend.query('SELECT pat_name, pat_ssn, diagnosis FROM patient');
  const versions = new Set<number>();
  for (const row of r.rows) for (const v of Object.values(row)) if (v) versions.add((v as Buffer).readUInt16BE(6));
  return [...versions].sort();
}

beforeAll(async () => { cluster = await startPostgres(); });
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  for (const e of envs) await e.close();
  await cluster?.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

describe('key rotation and re-encryption', () => {
  it('writes under version 1', async () => {
    const { env, client } = await proxyWith([1], 1);
    await client.query(CREATE_PATIENT);
    const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 'Rot Canary${i + 1}', 'ssn-${i + 1}', NULL, NULL, 'diag-${i % 3}')`).join(', ');
    await client.query(`INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, pat_birth, diagnosis) VALUES ${values}`);
    expect(await storedVersions(env)).toEqual([1]);
  });

  it('after rotation: new writes use version 2, old rows decrypt and match equality', async () => {
    const { env, client } = await proxyWith([1, 2], 2);
    await client.query("INSERT INTO patient (pat_id, pat_name, pat_ssn, diagnosis) VALUES (100, 'Rot New', 'ssn-100', 'diag-0')");
    expect(await storedVersions(env)).toEqual([1, 2]);
    expect((await client.query("SELECT pat_name FROM patient WHERE pat_ssn = 'ssn-5'")).rows).toEqual([{ pat_name: 'Rot Canary5' }]);
    const same = await client.query("SELECT count(*)::int AS n FROM patient WHERE diagnosis = 'diag-0'");
    expect(same.rows[0].n).toBe(9);
    expect((await client.query('SELECT pat_id FROM patient WHERE diagnosis = $1 AND pat_id > 20', ['diag-0'])).rows.map((r) => r.pat_id as number).sort((a, b) => a - b)).toEqual([22, 100]);
  });

  it('re-encrypts in batches through the proxy, resuming after an interruption', async () => {
    const env = envs[1] as ProtectedEnv;
    const targets = reencryptTargets(policyWith([1, 2], 2), ['patients']);
    if (typeof targets === 'string') throw new Error(targets);
    const state = emptyState();
    let saves = 0;
    const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
    await c.connect();
    clients.push(c);
    const interrupted = reencrypt(c, targets, { size: 5, state, save: () => { if (++saves === 2) throw new Error('simulated crash'); } }, { out: () => undefined, err: () => undefined });
    await expect(interrupted).rejects.toThrow(/simulated crash/);
    expect(state.datasets.patients?.after).toBe('10');
    const stateFile = join(scratch, 'state.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(stateFile, JSON.stringify(state));
    const out: string[] = [];
    const code = await reencryptMain(['--config', env.configDir, '--url', env.url(USERS.doctor), '--batch', '5', '--state', stateFile, '--dataset', 'patients'], { out: (s) => out.push(s), err: (s) => out.push(s) });
    expect(out.join(''), out.join('')).toContain('rows re-encrypted');
    expect(code).toBe(0);
    expect(out.join('')).toContain(`patients: ${ROWS + 1} rows re-encrypted`);
    expect(await storedVersions(env)).toEqual([2]);
  });

  it('reads everything with version 1 removed from the keyring', async () => {
    const { env, client } = await proxyWith([2], 2);
    const r = await client.query('SELECT pat_id, pat_name, diagnosis FROM patient WHERE pat_ssn = $1', ['ssn-17']);
    expect(r.rows).toEqual([{ pat_id: 17, pat_name: 'Rot Canary17', diagnosis: 'diag-1' }]);
    expect((await client.query('SELECT count(*)::int AS n FROM patient WHERE pat_name IS NOT NULL')).rows[0].n).toBe(ROWS + 1);
    expect(await canariesInTable(env.backend, 'patient', ['Rot Canary', 'ssn-1', 'diag-0'])).toEqual([]);
  });
});
