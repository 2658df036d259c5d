// Issue 13: writes to anonymized columns through the real proxy into a real PostgreSQL, checked on
// what the backend stores. A protection the proxy cannot apply must refuse the write, never store
// something else (COPY used to store NULL for every k-anonymity quasi-identifier).
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeColumn, RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

const DATA = '/work/shared/data/clarus/data_clarus2.txt';
const B = 'cloud-a';

const col = (name: string, attributeType: RuntimeColumn['attributeType'], anonymize?: RuntimeColumn['anonymize']): RuntimeColumn =>
  ({ name, attributeType, backend: B, ...(anonymize ? { anonymize } : {}) });

/** The eHealth set as CLARUS's properties.xml / properties2.xml describe it. */
function ehealthPolicy(k: number, t?: number): RuntimePolicy {
  const qi = { kAnonymity: { k, ...(t !== undefined ? { tCloseness: t } : {}) } };
  return {
    name: 'ehealth-anon', onUnsupported: 'reject', defaultBackend: B,
    keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
    datasets: [{
      name: 'episodes', schema: 'public', table: 'episode',
      columns: [
        col('ep_id', 'nonConfidential'), col('ep_age', 'quasiIdentifier', qi), col('ep_range', 'quasiIdentifier', qi),
        col('dis_id', 'nonConfidential'), col('dis_adm', 'quasiIdentifier', qi), col('dis_dis', 'quasiIdentifier', qi),
        col('dis_days', 'quasiIdentifier', qi), col('ep_pat', 'identifier', { suppress: {} }),
        col('pat_gen', 'quasiIdentifier', qi), col('pat_zip', 'quasiIdentifier', qi), col('dia_id', 'confidential'),
      ],
    }, {
      name: 'people', schema: 'public', table: 'person',
      columns: [col('id', 'technicalIdentifier'), col('alias', 'identifier', { pseudonymize: { format: 'hex' } }),
        col('salary', 'confidential', { noise: { distribution: 'laplace', scale: 100 } })],
    }],
  };
}

export const CREATE_EPISODE = `CREATE TABLE episode (ep_id text, ep_age integer, ep_range integer, dis_id text, dis_adm date,
  dis_dis date, dis_days integer, ep_pat text, pat_gen text, pat_zip text, dia_id text)`;
const COLUMNS = 'ep_id, ep_age, ep_range, dis_id, dis_adm, dis_dis, dis_days, ep_pat, pat_gen, pat_zip, dia_id';
const COPY_EPISODE = `COPY episode (${COLUMNS}) FROM STDIN (FORMAT csv, HEADER true)`;

const lines = readFileSync(DATA, 'utf8').split('\n').filter((l) => l.length > 0);
const header = lines[0] as string;
const records = lines.slice(1);

let cluster: PgCluster;
let env: ProtectedEnv;
const clients: pg.Client[] = [];

async function doctor(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

/** COPY `text` in through the proxy; the error's SQLSTATE and message, or null when it was stored. */
async function copyIn(c: pg.Client, sql: string, text: string): Promise<{ code: string; message: string } | null> {
  try {
    await pipeline(Readable.from([Buffer.from(text, 'utf8')]), c.query(copyFrom(sql)));
    return null;
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { code: err.code ?? '?', message: err.message };
  }
}

async function stored(table: string): Promise<number> {
  return Number((await env.backend.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, ehealthPolicy(5));
  const c = await doctor();
  await c.query(CREATE_EPISODE);
  await c.query('CREATE TABLE person (id integer, alias text, salary numeric)');
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('COPY into anonymized columns fails closed', () => {
  it('refuses COPY into pseudonymize and noise columns and stores nothing', async () => {
    const c = await doctor();
    const r = await copyIn(c, 'COPY person (id, alias, salary) FROM STDIN', '1\tCanary Alias\t1000\n2\tOther\t2000\n');
    expect(r?.code).toBe('0A000');
    expect(r?.message).toMatch(/person\.alias/);
    expect(await stored('person')).toBe(0);
  });

  it('never stores NULL in place of a k-anonymity quasi-identifier', async () => {
    const c = await doctor();
    const r = await copyIn(c, COPY_EPISODE, `${[header, ...records.slice(0, 20)].join('\n')}\n`);
    expect(r?.code).toBe('0A000');
    expect(await stored('episode')).toBe(0);
    const nulls = await env.backend.query('SELECT count(*) AS n FROM episode WHERE ep_age IS NULL OR dis_adm IS NULL OR pat_zip IS NULL');
    expect(Number(nulls.rows[0].n)).toBe(0);
  });
});
