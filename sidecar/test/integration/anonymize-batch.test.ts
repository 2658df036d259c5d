// Issue 13: writes to k-anonymity columns through the real proxy into a real PostgreSQL, checked on
// what the backend stores (queried directly, bypassing the proxy) with an independent checker
// (testing/anonymity.ts). A protection the proxy cannot apply must refuse the write, never store
// something else (COPY used to store NULL for every k-anonymity quasi-identifier). Data: the CLARUS
// eHealth set (34,025 records) as it is, protected as CLARUS's properties.xml (k=5) and
// properties2.xml (k=5, t=0.1 on the diagnosis) say.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { achievedK, achievedT, codePointOrder } from '@clarus/testing/anonymity.ts';
import type { Row } from '@clarus/testing/anonymity.ts';
import { PG_BIN, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';
import { anonColumn, EPISODE_BACKEND, EPISODE_COLUMNS as COLUMNS, EPISODE_DIA as DIA, EPISODE_QI as QI, EPISODE_TABLE_COLUMNS as TABLE_COLUMNS, episodeColumns, episodeLines, storedEpisodes } from './episodes.ts';

const run = promisify(execFile);
const DATA = clarusFile('data_clarus2.txt');
const col = anonColumn;

const POLICY: RuntimePolicy = {
  name: 'ehealth-anon', onUnsupported: 'reject', defaultBackend: EPISODE_BACKEND,
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [
    { name: 'episodes', schema: 'public', table: 'episode', columns: episodeColumns(5) },
    { name: 'episodes-t', schema: 'public', table: 'episode_t', columns: episodeColumns(5, 0.1) },
    { name: 'episodes-i', schema: 'public', table: 'episode_i', columns: episodeColumns(5, 0.3) },
    {
      name: 'people', schema: 'public', table: 'person',
      columns: [col('id', 'technicalIdentifier'), col('alias', 'identifier', { pseudonymize: { format: 'hex' } }),
        col('phone', 'identifier', { pseudonymize: { format: 'preserveShape', keyName: 'default' } }),
        col('salary', 'confidential', { noise: { distribution: 'laplace', scale: 100 } }),
        col('spot', 'quasiIdentifier', { generalize: { gridMeters: 100 } })],
    },
  ],
};

const copySql = (table: string): string => `COPY ${table} (${COLUMNS}) FROM STDIN (FORMAT csv, HEADER true)`;
const lines = episodeLines();
const header = lines[0] as string;
const records = lines.slice(1);
const file = (rows: string[]): string => `${[header, ...rows].join('\n')}\n`;

let cluster: PgCluster;
let env: ProtectedEnv;

const doctor = (): Promise<pg.Client> => env.client(USERS.doctor);

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

/** The rows as the backend stores them, every value as text (dates in ISO). */
const storedRows = (table: string): Promise<Row[]> => storedEpisodes(env.backend, table);

/** The original record of each ep_id, as the backend would store it unprotected. */
const originals = new Map(records.map((l) => {
  const f = l.split(',');
  return [f[0] as string, f.map((v, i) => (i === 4 || i === 5 ? v.replace(/\//g, '-') : v))];
}));

/**
 * Records whose original quasi-identifier combination, shared by fewer than k records of the data,
 * is stored for them. Only possible where a cluster's published values (its means and modes)
 * coincide with one member's originals; k-anonymity still holds there (k or more records publish
 * that combination), but a proxy that forwarded the data as sent would keep nearly all of them.
 */
function rareOriginalsStored(rows: Row[], k: number): number {
  const key = (r: ReadonlyArray<string | null>): string => JSON.stringify(QI.map((i) => r[i]));
  const counts = new Map<string, number>();
  for (const o of originals.values()) counts.set(key(o), (counts.get(key(o)) ?? 0) + 1);
  return rows.filter((r) => {
    const o = originals.get(r[0] as string) as string[];
    return key(r) === key(o) && (counts.get(key(o)) ?? 0) < k;
  }).length;
}

/** Records of the data whose quasi-identifier combination is shared by fewer than k records. */
function rareOriginals(k: number): number {
  const key = (r: ReadonlyArray<string | null>): string => JSON.stringify(QI.map((i) => r[i]));
  const counts = new Map<string, number>();
  for (const o of originals.values()) counts.set(key(o), (counts.get(key(o)) ?? 0) + 1);
  return [...originals.values()].filter((o) => (counts.get(key(o)) ?? 0) < k).length;
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster, POLICY);
  const c = await doctor();
  for (const t of ['episode', 'episode_t', 'episode_i', 'episode_plain']) await c.query(`CREATE TABLE ${t} ${TABLE_COLUMNS}`);
  await c.query('CREATE TABLE person (id integer, alias text, phone text, salary numeric, spot text)');
});
afterAll(async () => {
  await env?.close();
  await cluster?.destroy();
});

describe('writes the proxy cannot anonymize fail closed', () => {
  it('refuses COPY of a value the protection cannot take (gridMeters: not a point) and stores nothing', async () => {
    const r = await copyIn(await doctor(), 'COPY person (id, spot) FROM STDIN', '1\tPOINT(1 2)\n2\tLINESTRING(3 4, 5 6)\n');
    expect(r?.code).toBe('22P02');
    expect(r?.message).toMatch(/person\.spot/);
    expect(await stored('person')).toBe(0);
  });

  it('refuses a COPY batch smaller than k (21000) and stores nothing, never NULL quasi-identifiers', async () => {
    const r = await copyIn(await doctor(), copySql('episode'), file(records.slice(0, 4)));
    expect(r?.code).toBe('21000');
    expect(r?.message).toMatch(/k=5.*at least 5 records.*has 4; nothing was stored/);
    expect(await stored('episode')).toBe(0);
    // An empty COPY stores nothing and is no error.
    expect(await copyIn(await doctor(), copySql('episode'), file([]))).toBeNull();
    expect(await stored('episode')).toBe(0);
  });

  it('refuses a COPY with a NULL or unreadable quasi-identifier and stores nothing', async () => {
    const c = await doctor();
    const bad = records.slice(0, 9).concat(records[9]?.replace(/^([^,]*),\d+,/, '$1,,') as string);
    expect((await copyIn(c, copySql('episode'), file(bad)))?.code).toBe('22004');
    const date = records.slice(0, 9).concat(records[9]?.replace(/2015\/(\d\d)\/(\d\d)/, '$2/$1/2015') as string);
    expect((await copyIn(c, copySql('episode'), file(date)))?.code).toBe('22P02');
    expect(await stored('episode')).toBe(0);
  });
});

describe('COPY of the eHealth set', () => {
  it('stores k-anonymous rows (k=5): every class of stored quasi-identifiers has 5 or more records', async () => {
    const start = performance.now();
    expect(await copyIn(await doctor(), copySql('episode'), file(records))).toBeNull();
    const kSeconds = (performance.now() - start) / 1000;
    const rows = await storedRows('episode');
    expect(rows.length).toBe(34_025);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    // Nearly every record's combination is rare in the data; at most 0.5% of them are stored as
    // they were (where a cluster's means and modes equal one member's values).
    expect(rareOriginals(5)).toBeGreaterThan(30_000);
    const kept = rareOriginalsStored(rows, 5);
    expect(kept).toBeLessThan(34_025 * 0.005);
    // The batch's report is in the audit log.
    const audit = readFileSync(env.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { anonymization?: Record<string, unknown> });
    const report = audit.map((e) => e.anonymization).filter((a) => a?.table === 'public.episode');
    expect(report).toHaveLength(1);
    expect(report[0]).toMatchObject({ records: 34_025, k: achievedK(rows, QI), t: null });
    expect(report[0]?.sseSstRaw).toBeLessThan(0.225);
    // And in the metrics (the proxy's own registry, scraped over HTTP).
    const metrics = await (await fetch(`http://127.0.0.1:${env.proxy.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^clarus_anonymization_records_total \d+/m);
    expect(Number(/^clarus_anonymization_records_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(34_025);
    expect(metrics).toMatch(/^clarus_anonymization_last_k 5$/m);
    expect(Number(/^clarus_anonymization_refused_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    // Non-quasi-identifiers are stored as sent; the identifier is suppressed.
    expect(rows.every((r) => r[8] !== null && r[DIA] === (originals.get(r[0] as string) as string[])[DIA])).toBe(true);
    expect(rows.every((r) => r[7] === null)).toBe(true);
    // The same data into a table the policy does not list, through the same proxy.
    const plainStart = performance.now();
    expect(await copyIn(await doctor(), copySql('episode_plain'), file(records))).toBeNull();
    const plainSeconds = (performance.now() - plainStart) / 1000;
    expect(await stored('episode_plain')).toBe(34_025);
    console.log(`COPY of 34,025 eHealth records through the proxy: k-anonymity (k=5) ${kSeconds.toFixed(2)} s = ${Math.round(34_025 / kSeconds)} rows/s; plain ${plainSeconds.toFixed(2)} s = ${Math.round(34_025 / plainSeconds)} rows/s; rare original combinations stored as they were: ${kept}`);
  });

  it('stores t-close rows (k=5, t=0.1 on the diagnosis) loaded with psql \\copy', async () => {
    const url = env.url(USERS.doctor);
    const copy = `\\copy episode_t (${COLUMNS}) FROM '${DATA}' WITH (FORMAT csv, HEADER true)`;
    const { stdout } = await run(join(PG_BIN, 'psql'), [url, '-v', 'ON_ERROR_STOP=1', '-c', copy], { env: { ...process.env, PGSSLMODE: 'disable' } });
    expect(stdout).toMatch(/COPY 34025/);
    const rows = await storedRows('episode_t');
    expect(rows.length).toBe(34_025);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(achievedT(rows, QI, DIA, codePointOrder)).toBeLessThanOrEqual(0.1);
    expect(rareOriginalsStored(rows, 5)).toBeLessThan(34_025 * 0.005);
  });
});

/** A multi-row INSERT of these records, values as constants. */
function insertSql(rows: string[]): string {
  const lit = (v: string, i: number): string => (i === 1 || i === 2 || i === 6 ? v : `'${v}'`);
  return `INSERT INTO episode_i (${COLUMNS}) VALUES ${rows.map((l) => `(${l.split(',').map(lit).join(', ')})`).join(', ')}`;
}

describe('multi-row INSERT … VALUES', () => {
  it('stores the rows of one INSERT k-anonymous and t-close (k=5, t=0.3)', async () => {
    const c = await doctor();
    const batch = records.slice(100, 160);
    expect((await c.query(insertSql(batch))).rowCount).toBe(60);
    const rows = await storedRows('episode_i');
    expect(rows.length).toBe(60);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(achievedT(rows, QI, DIA, codePointOrder)).toBeLessThanOrEqual(0.3);
    // The application reads back what is stored: the anonymized values.
    const seen = await c.query(`SELECT ${COLUMNS} FROM episode_i ORDER BY ep_id`);
    expect(seen.rows.length).toBe(60);
    expect(new Set(seen.rows.map((r) => `${r.ep_age as number}|${r.pat_zip as string}`)).size).toBeLessThanOrEqual(12);
  });

  it('refuses an INSERT of fewer rows than k (21000), and stores nothing', async () => {
    const c = await doctor();
    const before = await stored('episode_i');
    await expect(c.query(insertSql(records.slice(0, 4)))).rejects.toMatchObject({ code: '21000' });
    await c.query('BEGIN');
    // INSERTs of one row in a transaction block are held until COMMIT (anonymize-held.test.ts); ROLLBACK stores nothing.
    expect((await c.query(insertSql(records.slice(4, 5)))).rowCount).toBe(1);
    await c.query('ROLLBACK');
    await expect(c.query(`INSERT INTO episode_i (ep_id, ep_age) VALUES ($1, $2), ('x', 3), ('y', 4), ('z', 5), ('w', 6)`, ['v', 2])).rejects.toMatchObject({ code: '0A000' });
    expect(await stored('episode_i')).toBe(before);
  });
});

describe('COPY in text format', () => {
  it('anonymizes a text-format COPY as one batch (escapes and \\N read as PostgreSQL reads them)', async () => {
    const c = await doctor();
    const before = await stored('episode_i');
    const batch = records.slice(200, 210).map((l, i) => {
      const f = l.split(',');
      // A tab in a non-quasi-identifier (escaped) and a NULL identifier.
      f[3] = `dis\\t${i}`;
      f[7] = '\\N';
      return f.join('\t');
    });
    expect(await copyIn(c, `COPY episode_i (${COLUMNS}) FROM STDIN`, `${batch.join('\n')}\n`)).toBeNull();
    const rows = (await storedRows('episode_i')).filter((r) => (r[3] ?? '').startsWith('dis\t'));
    expect(rows.length).toBe(10);
    expect(await stored('episode_i')).toBe(before + 10);
    expect(achievedK(rows, QI)).toBeGreaterThanOrEqual(5);
    expect(rows.every((r) => r[7] === null)).toBe(true);
  });
});

describe('pseudonymize and noise', () => {
  it('stores keyed pseudonyms (equal values, equal pseudonyms) and capped noise, by COPY, INSERT constants and parameters', async () => {
    const c = await doctor();
    expect(await copyIn(c, 'COPY person (id, alias, phone, salary) FROM STDIN', '1\tCanary Alice\t+34 600-111-222\t1000.50\n2\tCanary Bob\t+34 600-333-444\t2000\n')).toBeNull();
    await c.query("INSERT INTO person (id, alias, phone, salary) VALUES (3, 'Canary Alice', '+34 600-111-222', 1000.50)");
    await c.query('INSERT INTO person (id, alias, phone, salary) VALUES ($1, $2, $3, $4)', [4, 'Canary Alice', '+34 600-111-222', '1000.50']);
    await c.query('UPDATE person SET alias = $1 WHERE id = 2', ['Canary Carol']);
    const r = await env.backend.query('SELECT id, alias, phone, salary::text AS salary FROM person ORDER BY id');
    const rows = r.rows as Array<{ id: number; alias: string; phone: string; salary: string }>;
    expect(rows.map((x) => x.id)).toEqual([1, 2, 3, 4]);
    for (const x of rows) {
      expect(x.alias).toMatch(/^[0-9a-f]{32}$/);
      expect(x.phone).toMatch(/^\+\d\d \d{3}-\d{3}-\d{3}$/);
    }
    // Deterministic: the same value gives the same pseudonym on every path; other values others.
    expect(new Set([rows[0]?.alias, rows[2]?.alias, rows[3]?.alias]).size).toBe(1);
    expect(new Set([rows[0]?.phone, rows[2]?.phone, rows[3]?.phone]).size).toBe(1);
    expect(rows[1]?.alias).not.toBe(rows[0]?.alias);
    expect(rows[0]?.phone).not.toBe('+34 600-111-222');
    // Noise: within the cap (10 × scale), two decimals kept.
    for (const [i, v] of [[0, 1000.5], [1, 2000], [2, 1000.5], [3, 1000.5]] as const) {
      expect(Math.abs(Number(rows[i]?.salary) - v)).toBeLessThanOrEqual(1000);
    }
    expect(rows[0]?.salary).toMatch(/^-?\d+\.\d\d$/);
    expect(rows.filter((x) => ['1000.50', '2000', '2000.00'].includes(x.salary)).length).toBeLessThan(2);
    const all = JSON.stringify(r.rows);
    expect(all).not.toMatch(/Canary|600-111-222|600-333-444/);
    expect(await canariesInDump(cluster, ['Canary Alice', 'Canary Bob', 'Canary Carol', '600-111-222', '600-333-444'])).toEqual([]);
  });
});
