// The eHealth statement corpus through the real proxy into a real PostgreSQL: each statement's
// result rows, affected-row count or refusal SQLSTATE is checked; a refused statement must leave
// the backend unchanged (every row of every table compared before/after); at the end no
// plaintext of an encrypted column is stored anywhere (table text and pg_dump).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EHEALTH_CORPUS } from '../corpus/ehealth.ts';
import type { Cell, CorpusEntry, CorpusUser } from '../corpus/ehealth.ts';
import { USERS, canariesInDump, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

let cluster: PgCluster;
let env: ProtectedEnv;
const clients = new Map<CorpusUser, pg.Client>();

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
  for (const u of ['doctor', 'analyst', 'auditor', 'nobody', 'expired'] as const) {
    const c = new pg.Client({ connectionString: env.url(USERS[u]) });
    await c.connect();
    clients.set(u, c);
  }
});
afterAll(async () => {
  for (const c of clients.values()) await c.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

async function snapshot(): Promise<string> {
  const tables = await env.backend.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  const parts: string[] = [];
  for (const { t } of tables.rows) {
    const r = await env.backend.query<{ x: string }>(`SELECT x::text AS x FROM "${t}" x ORDER BY 1`);
    parts.push(`${t}: ${r.rows.map((y) => y.x).join(' | ')}`);
  }
  return parts.join('\n');
}

function norm(v: unknown): unknown {
  if (v instanceof Date) return v.toString();
  return v;
}

function matches(actual: Record<string, unknown>, expected: Record<string, Cell>): boolean {
  const keys = Object.keys(expected);
  if (Object.keys(actual).length !== keys.length) return false;
  return keys.every((k) => {
    const e = expected[k];
    const a = norm(actual[k]);
    return e instanceof RegExp ? a !== null && e.test(String(a)) : a === e;
  });
}

function rowsMatch(actual: Array<Record<string, unknown>>, expected: Array<Record<string, Cell>>, ordered: boolean): boolean {
  if (actual.length !== expected.length) return false;
  if (ordered) return expected.every((e, i) => matches(actual[i] as Record<string, unknown>, e));
  const left = [...actual];
  return expected.every((e) => {
    const i = left.findIndex((a) => matches(a, e));
    if (i < 0) return false;
    left.splice(i, 1);
    return true;
  });
}

async function runEntry(e: CorpusEntry): Promise<string | null> {
  const client = clients.get(e.user ?? 'doctor') as pg.Client;
  const before = e.error ? await snapshot() : '';
  try {
    const r = await client.query(e.sql, e.params);
    if (e.error) return `expected SQLSTATE ${e.error}, got success`;
    if (e.rows && !rowsMatch(r.rows, e.rows, e.ordered ?? false)) return `rows ${JSON.stringify(r.rows)} ≠ ${JSON.stringify(e.rows, (_, v) => (v instanceof RegExp ? String(v) : v))}`;
    if (e.count !== undefined && (r.rowCount ?? 0) !== e.count) return `count ${r.rowCount} ≠ ${e.count}`;
    return null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!e.error) return `unexpected error ${code}: ${(err as Error).message}`;
    if (code !== e.error) return `SQLSTATE ${code} (${(err as Error).message}) ≠ ${e.error}`;
    const after = await snapshot();
    return after === before ? null : 'refused statement changed the backend';
  }
}

describe('eHealth corpus through the proxy', () => {
  it(`runs ${EHEALTH_CORPUS.length} statements with their expected outcomes`, async () => {
    const failures: string[] = [];
    for (const e of EHEALTH_CORPUS) {
      const f = await runEntry(e);
      if (f) failures.push(`[${e.user ?? 'doctor'}] ${e.sql}\n    ${f}`);
    }
    expect(failures).toEqual([]);
  });

  it('stored no plaintext of encrypted columns anywhere', async () => {
    const secrets = ['Ann Able', 'Bob Baker', 'Cy Cole', 'Di Dunn', 'Ed Eve', '100-00-0001', '100-00-0003', 'asthma', 'fluids', 'inhaler'];
    expect(await canariesInTable(env.backend, 'patient', secrets)).toEqual([]);
    expect(await canariesInTable(env.backend, 'visit', secrets)).toEqual([]);
    expect(await canariesInDump(cluster, secrets)).toEqual([]);
  });
});
