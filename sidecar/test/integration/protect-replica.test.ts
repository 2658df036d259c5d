// Two proxy replicas (separate pipelines, separate in-memory catalogs) in front of one PostgreSQL:
// the table is created through replica A; replica B never saw the CREATE TABLE and restores the
// declared types of encrypted columns from the backend catalog (the clarus:<oid>:<column> CHECK
// constraint names), so clients get integers and dates, not text.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { USERS, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

const POLICY: RuntimePolicy = {
  name: 'labs', onUnsupported: 'reject', defaultBackend: 'primary',
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'labs', schema: 'public', table: 'lab', rowKey: 'lab_id',
    columns: [
      { name: 'lab_id', attributeType: 'technicalIdentifier', backend: 'primary' },
      { name: 'result_code', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: 'primary' },
      { name: 'taken', attributeType: 'quasiIdentifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: 'primary' },
    ],
  }],
};

let cluster: PgCluster;
let a: ProtectedEnv;
let b: ProtectedEnv;
const clients: pg.Client[] = [];

async function client(env: ProtectedEnv): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await startPostgres();
  a = await startProtected(cluster, POLICY);
  b = await startProtected(cluster, POLICY);
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await a?.close();
  await b?.close();
  await cluster?.destroy();
});

describe('declared types across replicas', () => {
  it('replica B restores integer and date types of encrypted columns created through replica A', async () => {
    const ca = await client(a);
    await ca.query('CREATE TABLE lab (lab_id integer PRIMARY KEY, result_code integer, taken date)');
    await ca.query("INSERT INTO lab (lab_id, result_code, taken) VALUES (1, 73921, '2024-02-29'), (2, 73921, NULL)");
    const stored = await a.backend.query("SELECT data_type FROM information_schema.columns WHERE table_name = 'lab' AND column_name = 'result_code'");
    expect(stored.rows[0].data_type).toBe('bytea');
    const cb = await client(b);
    const r = await cb.query('SELECT * FROM lab WHERE result_code = $1 ORDER BY lab_id', [73921]);
    expect(r.fields.map((f) => f.dataTypeID)).toEqual([23, 23, 1082]);
    expect(r.rows[0].result_code).toBe(73921);
    expect((r.rows[0].taken as Date).getFullYear()).toBe(2024);
    expect(r.rows[1].taken).toBeNull();
    expect(await canariesInTable(b.backend, 'lab', ['73921', '2024-02-29'])).toEqual([]);
  });

  it('rejects malformed values for the declared type before anything reaches the backend', async () => {
    const cb = await client(b);
    await expect(cb.query("INSERT INTO lab (lab_id, result_code, taken) VALUES (3, 'x12', NULL)")).rejects.toMatchObject({ code: '22P02' });
    expect((await b.backend.query('SELECT count(*)::int AS n FROM lab')).rows[0].n).toBe(2);
  });
});
