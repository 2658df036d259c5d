// The published CLARUS 1.0 policies that import, run for real: `clarus policy import` → validate →
// render → the proxy in front of a real PostgreSQL 15, with the CLARUS boreholes data
// (../shared/data/clarus/boreholes2.txt). Per policy: what the client reads, and what the backend
// stores (table text, pg_dump, the server log with log_statement = all) — plaintext of a protected
// column must appear in none of them, and a statement the mapping cannot serve is refused.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { achievedK, achievedT, codePointOrder, type Row } from '@clarus/testing/anonymity.ts';
import { startPostgres, type PgCluster } from '@clarus/testing/pg.ts';
import { main } from '../../src/policy.ts';
import { DATA, dumpOf, importPolicy as importWith, logSince, logSize, POLICIES, renderPolicy, startWith, type Env } from './published-harness.ts';

const LINES = readFileSync(join(DATA, 'boreholes2.txt'), 'latin1').split('\n').filter(Boolean);
const COLUMNS = (LINES[0] ?? '').split(';').map((h) => h.split('/')[2] ?? '');
const ROWS = LINES.slice(1).map((l) => l.split(';'));
const GEOM = COLUMNS.indexOf('geom');
const TABLE_SPEC = `public.ades_geofla_centroid:${COLUMNS.join(',')}`;
const TYPES: Record<string, string> = { gid: 'integer', altitude: 'numeric', prof_max: 'numeric' };
const CREATE = `CREATE TABLE ades_geofla_centroid (${COLUMNS.map((c) => `${c} ${TYPES[c] ?? 'text'}`).join(', ')})`;
const INSERT = `INSERT INTO ades_geofla_centroid (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_c, i) => `$${i + 1}`).join(', ')})`;
/** [lon, lat] of a 2-D point in hex EWKB (the data file's form). */
function pointOfHex(hex: string): [number, number] {
  const b = Buffer.from(hex, 'hex');
  const le = b[0] === 1;
  const at = (b.readUInt32LE(1) & 0x20000000) !== 0 ? 9 : 5;
  return le ? [b.readDoubleLE(at), b.readDoubleLE(at + 8)] : [b.readDoubleBE(at), b.readDoubleBE(at + 8)];
}

function pointOfEwkt(text: string): [number, number] {
  const m = /^SRID=4326;POINT\(([-\d.e]+) ([-\d.e]+)\)$/.exec(text);
  if (!m) throw new Error(`not a point in degrees: ${text}`);
  return [Number(m[1]), Number(m[2])];
}

/** Distance in Web Mercator metres, where the proxy shifts points given in degrees. */
function metres(a: [number, number], b: [number, number]): number {
  const R = 6_378_137;
  const merc = ([lon, lat]: [number, number]): [number, number] => [R * lon * Math.PI / 180, R * Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360))];
  const [ax, ay] = merc(a);
  const [bx, by] = merc(b);
  return Math.hypot(ax - bx, ay - by);
}

/** Distinct values of a column of the data, long enough not to occur by chance. */
function canaries(column: string): string[] {
  const i = COLUMNS.indexOf(column);
  return [...new Set(ROWS.map((r) => r[i] ?? '').filter((v) => v.length >= 6))];
}

const importPolicy = (file: string): Promise<string> => importWith(file, '--table', TABLE_SPEC);

let cluster: PgCluster;
let backend: pg.Client;
let scratch: string;

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.psql("ALTER SYSTEM SET log_statement = 'all'");
  await cluster.psql('SELECT pg_reload_conf()');
  backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
  await backend.connect();
  scratch = mkdtempSync(join(tmpdir(), 'clarus-import-'));
});
afterAll(async () => {
  await backend?.end();
  await cluster?.destroy();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Which canaries the backend holds anywhere: rows (hex of bytea decoded too), pg_dump, server log. */
let logFrom = 0;

async function leaked(values: string[]): Promise<string[]> {
  const rows = (await backend.query<{ t: string }>('SELECT t::text AS t FROM ades_geofla_centroid t')).rows.map((r) => r.t).join('\n');
  const hex = [...rows.matchAll(/\\\\x([0-9a-f]+)/g)].map((m) => Buffer.from(m[1] as string, 'hex').toString('latin1')).join('\n');
  const dump = await dumpOf(cluster);
  const log = logSince(cluster, logFrom);
  return values.filter((v) => rows.includes(v) || hex.includes(v) || dump.includes(v) || log.includes(v));
}

async function loadBoreholes(client: pg.Client): Promise<void> {
  await client.query(CREATE);
  for (const r of ROWS) await client.query(INSERT, r.map((v) => (v === '' ? null : v)));
}

async function readBack(client: pg.Client): Promise<string[][]> {
  const r = await client.query({ text: `SELECT ${COLUMNS.join(', ')} FROM ades_geofla_centroid ORDER BY gid`, rowMode: 'array' });
  return (r.rows as unknown[][]).map((row) => row.map((v) => (v === null ? '' : String(v))));
}

describe('published CLARUS policies through a real proxy', () => {
  let env: Env | undefined;
  beforeEach(() => {
    logFrom = logSize(cluster);
  });
  const finish = async (): Promise<void> => {
    await env?.close();
    env = undefined;
    await backend.query('DROP TABLE IF EXISTS ades_geofla_centroid');
  };

  it('S22 simple encryption → deterministic: the app reads the boreholes back, equality runs in the backend, which holds no plaintext', async () => {
    const { policy, keyFiles } = renderPolicy(await importPolicy('S22_proxy_boreholes_3857_simple_encryption_cab5ccb.xml'));
    env = await startWith(cluster, policy, keyFiles);
    try {
      await loadBoreholes(env.client);
      expect(await readBack(env.client)).toEqual(ROWS);
      const caromb = await env.client.query('SELECT gid FROM ades_geofla_centroid WHERE nom_com = $1', ['CAROMB']);
      expect(caromb.rows).toEqual([{ gid: 1 }]);
      const literal = await env.client.query("SELECT count(*)::int AS n FROM ades_geofla_centroid WHERE code_bss IN ('09155X0062/F', '08921X1001/HY')");
      expect(literal.rows).toEqual([{ n: 2 }]);
      const secrets = [...canaries('nom_com'), ...canaries('code_bss'), ...canaries('adresse'), ...canaries('geom')];
      expect(secrets.length).toBeGreaterThan(20);
      expect(await leaked(secrets)).toEqual([]);
    } finally {
      await finish();
    }
  });

  it('S21 searchable encryption → randomized + blind index: = works, a range is refused, geom (non_confidential) stays in clear', async () => {
    const { policy, keyFiles } = renderPolicy(await importPolicy('S21_proxy_boreholes_3857_searchable_encryption_d2d7322.xml'));
    env = await startWith(cluster, policy, keyFiles);
    try {
      await loadBoreholes(env.client);
      expect(await readBack(env.client)).toEqual(ROWS);
      const eq = await env.client.query('SELECT gid FROM ades_geofla_centroid WHERE code_bss = $1', ['08921X1001/HY']);
      expect(eq.rows).toEqual([{ gid: 2 }]);
      await expect(env.client.query('SELECT gid FROM ades_geofla_centroid WHERE altitude > 500')).rejects.toMatchObject({ code: '0A000' });
      expect(await leaked([...canaries('nom_com'), ...canaries('code_bss'), ...canaries('adresse')])).toEqual([]);
      expect(await leaked(canaries('geom'))).toEqual(canaries('geom'));
    } finally {
      await finish();
    }
  });

  it.each([
    ['S05_anonymization-module_properties4_774a58d.xml', 'coarsening shift → shiftMeters'],
    ['S20_proxy_boreholes_3857_coarsening_shift_d4a368f.xml', 'coarsening shift → shiftMeters'],
  ])('%s (%s): each of the ten boreholes is stored moved, within 1000 m (Web Mercator), never as sent', async (file) => {
    const { policy, keyFiles } = renderPolicy(await importPolicy(file));
    env = await startWith(cluster, policy, keyFiles);
    try {
      await env.client.query(CREATE);
      for (const r of ROWS) await env.client.query(INSERT, r.map((v) => (v === '' ? null : v)));
      const stored = (await backend.query<{ gid: number; geom: string }>('SELECT gid, geom FROM ades_geofla_centroid ORDER BY gid')).rows;
      expect(stored.map((r) => r.gid)).toEqual(ROWS.map((r) => Number(r[0])));
      const moved = stored.map((r, i) => metres(pointOfHex(ROWS[i]?.[GEOM] ?? ''), pointOfEwkt(r.geom)));
      expect(moved.every((d) => d > 0 && d <= 1000 + 1e-6)).toBe(true);
      expect(await leaked(canaries('geom'))).toEqual([]);
    } finally {
      await finish();
    }
  });

  it.each([
    ['S06_anonymization-module_properties5_e7cbfe0.xml', 'microaggregation → kAnonymity'],
    ['S19_proxy_boreholes_3857_coarsening_microaggregation_159aeed.xml', 'microaggregation → kAnonymity'],
  ])('%s (%s): one row alone is no batch of k (21000); the ten boreholes of one transaction are stored as centroids of classes of 3 or more', async (file) => {
    const { policy, keyFiles } = renderPolicy(await importPolicy(file));
    env = await startWith(cluster, policy, keyFiles);
    try {
      await env.client.query(CREATE);
      const params = (r: string[]): Array<string | null> => r.map((v) => (v === '' ? null : v));
      await expect(env.client.query(INSERT, params(ROWS[0] ?? []))).rejects.toMatchObject({ code: '21000' });
      expect((await backend.query('SELECT count(*)::int AS n FROM ades_geofla_centroid')).rows).toEqual([{ n: 0 }]);
      // As sent, every point is its own class: only an anonymized store passes the checker.
      expect(achievedK(ROWS, [GEOM])).toBe(1);
      await env.client.query('BEGIN');
      for (const r of ROWS) await env.client.query(INSERT, params(r));
      await env.client.query('COMMIT');
      const stored = (await backend.query({ text: `SELECT ${COLUMNS.map((c) => `${c}::text`).join(', ')} FROM ades_geofla_centroid ORDER BY gid + 0`, rowMode: 'array' })).rows as Row[];
      expect(stored).toHaveLength(ROWS.length);
      expect(achievedK(stored, [GEOM])).toBeGreaterThanOrEqual(3);
      expect(stored.every((r) => /^SRID=4326;POINT\([-\d.e]+ [-\d.e]+\)$/.test(r[GEOM] ?? ''))).toBe(true);
      // The other columns are stored as sent (numbers checked by S22's read-back), and the app reads what is stored.
      const kept = (r: ReadonlyArray<string | null>): Array<string | null> => r.filter((_v, i) => !['geom', 'altitude', 'prof_max'].includes(COLUMNS[i] as string)).map((v) => v ?? '');
      expect(stored.map(kept)).toEqual(ROWS.map(kept));
      expect((await readBack(env.client)).map((r) => r[GEOM])).toEqual(stored.map((r) => r[GEOM]));
      expect(await leaked(canaries('geom'))).toEqual([]);
    } finally {
      await finish();
    }
  });

  it('S18 (the 2016 proxy sample): identifiers suppressed; a batch k-anonymous (k=3) and t-close (t=0.1 on pat_zip) on the stored rows; one row alone refused', async () => {
    const { policy, keyFiles } = renderPolicy(await importPolicy('S18_proxy_security-policy-sample_d8024a1.xml'));
    env = await startWith(cluster, policy, keyFiles);
    const cols = 'pat_id, pat_name, pat_last1, pat_last2, pat_gen, pat_zip';
    const names = Array.from({ length: 9 }, (_x, i) => [`Canaryname${i}`, `Canarylast${i}`, `Canarysecond${i}`]);
    try {
      await env.client.query('CREATE TABLE patient (pat_id integer, pat_name text, pat_last1 text, pat_last2 text, pat_gen text, pat_zip text)');
      await expect(env.client.query(`INSERT INTO patient (${cols}) VALUES (1, 'Canaryname0', 'Canarylast0', 'Canarysecond0', 'F', '08001')`)).rejects.toMatchObject({ code: '21000' });
      await expect(env.client.query("INSERT INTO patient VALUES (1, 'Canaryname0', 'Canarylast0', 'Canarysecond0', 'F', '08001')")).rejects.toMatchObject({ code: '0A000' });
      expect((await backend.query('SELECT count(*)::int AS n FROM patient')).rows).toEqual([{ n: 0 }]);
      // As sent, the two M rows are a class of 2 < k: the stored rows can only pass the checker if the proxy anonymized them.
      const sent: Row[] = names.map(([n, l1, l2], i) => [String(i + 10), n ?? '', l1 ?? '', l2 ?? '', i < 7 ? 'F' : 'M', `0800${(i % 3) + 1}`]);
      expect(achievedK(sent, [4])).toBe(2);
      const values = sent.map((r) => `(${r[0]}, ${r.slice(1).map((v) => `'${v}'`).join(', ')})`);
      expect((await env.client.query(`INSERT INTO patient (${cols}) VALUES ${values.join(', ')}`)).rowCount).toBe(9);
      const stored = (await backend.query({ text: 'SELECT pat_id::text, pat_name, pat_last1, pat_last2, pat_gen, pat_zip FROM patient ORDER BY pat_id', rowMode: 'array' })).rows as Row[];
      expect(stored).toHaveLength(9);
      expect(stored.every((r) => r[1] === null && r[2] === null && r[3] === null)).toBe(true);
      expect(achievedK(stored, [4])).toBeGreaterThanOrEqual(3);
      expect(achievedT(stored, [4], 5, codePointOrder)).toBeLessThanOrEqual(0.1);
      expect(stored.map((r) => r[5])).toEqual(names.map((_n, i) => `0800${(i % 3) + 1}`));
      const seen = await env.client.query({ text: 'SELECT pat_id::text, pat_name, pat_last1, pat_last2, pat_gen, pat_zip FROM patient ORDER BY pat_id', rowMode: 'array' });
      expect(seen.rows).toEqual(stored);
      const dump = await dumpOf(cluster);
      const log = logSince(cluster, logFrom);
      expect(names.flat().filter((v) => dump.includes(v) || log.includes(v))).toEqual([]);
      // `patient/pat_name` named no schema (CLARUS: any schema): a patient table of another schema is refused, not passed in clear.
      await backend.query('CREATE SCHEMA s1; CREATE TABLE s1.patient (pat_id integer, pat_name text)');
      await expect(env.client.query("INSERT INTO s1.patient (pat_id, pat_name) VALUES (3, 'Canaryother')")).rejects.toMatchObject({ code: '0A000' });
      expect((await backend.query('SELECT count(*)::int AS n FROM s1.patient')).rows).toEqual([{ n: 0 }]);
    } finally {
      await env?.close();
      env = undefined;
      await backend.query('DROP TABLE IF EXISTS patient; DROP SCHEMA IF EXISTS s1 CASCADE');
    }
  });

  it('S24 (names in every form, nothing protected): a pass-through policy; the backend holds what the app wrote', async () => {
    const { policy, keyFiles } = renderPolicy(await importPolicy('S24_proxy_metadata_anonymization_2_tables_3bf7a8f.xml'));
    expect(policy.datasets.map((d) => `${d.schema}.${d.table}`)).toEqual(['public.a', 'public.b', 's1.a', 's1.b']);
    env = await startWith(cluster, policy, keyFiles);
    try {
      await env.client.query('CREATE TABLE a (c2 text, c4 text)');
      await env.client.query("INSERT INTO a (c2, c4) VALUES ('plain-two', 'plain-four')");
      expect((await env.client.query('SELECT c2, c4 FROM a WHERE c4 = $1', ['plain-four'])).rows).toEqual([{ c2: 'plain-two', c4: 'plain-four' }]);
      expect((await backend.query('SELECT c2, c4 FROM a')).rows).toEqual([{ c2: 'plain-two', c4: 'plain-four' }]);
    } finally {
      await env?.close();
      env = undefined;
      await backend.query('DROP TABLE IF EXISTS a');
    }
  });

  it('one table under three spellings (db/PUBLIC.Patient/…, patient/…, public.patient/…): one dataset, and the proxy protects every column of it', async () => {
    const xml = join(scratch, 'spellings.xml');
    writeFileSync(xml, `<?xml version="1.0"?>
<schema>
  <data>
    <attribute name="db/PUBLIC.Patient/Pat_Name" attribute_type="identifier"/>
    <attribute name="patient/pat_ssn" attribute_type="identifier"/>
    <attribute name="public.patient/pat_name" attribute_type="identifier"/>
  </data>
  <protection module="encryption"><attribute_types><attribute_type type="identifier" protection="encryption" id_key="176"/></attribute_types></protection>
  <protocol plugin="PostgreSQL"/>
</schema>`);
    const yaml = await importWith(xml);
    const { policy, keyFiles } = renderPolicy(yaml);
    expect(policy.datasets.map((d) => [d.schema, d.table, d.columns.map((c) => c.name)])).toEqual([['public', 'patient', ['pat_name', 'pat_ssn']]]);
    env = await startWith(cluster, policy, keyFiles);
    try {
      await env.client.query('CREATE TABLE patient (pat_id integer, pat_name text, pat_ssn text)');
      await env.client.query("INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1, 'Canaryspelled', 'Canaryssn123')");
      expect((await env.client.query('SELECT pat_name, pat_ssn FROM patient WHERE pat_name = $1', ['Canaryspelled'])).rows).toEqual([{ pat_name: 'Canaryspelled', pat_ssn: 'Canaryssn123' }]);
      const stored = (await backend.query<{ t: string }>('SELECT t::text AS t FROM patient t')).rows.map((r) => r.t).join('\n');
      expect(stored).not.toMatch(/Canary/);
      const dump = await dumpOf(cluster);
      const log = logSince(cluster, logFrom);
      expect(['Canaryspelled', 'Canaryssn123'].filter((v) => dump.includes(v) || log.includes(v))).toEqual([]);
    } finally {
      await env?.close();
      env = undefined;
      await backend.query('DROP TABLE IF EXISTS patient');
    }
  });

  it('--from-backend: `*/col` patterns are expanded against the tables the database holds (hidden blind indexes left out)', async () => {
    await backend.query(CREATE.replace('CREATE TABLE ades_geofla_centroid', 'CREATE TABLE public.ades_geofla_centroid'));
    await backend.query('CREATE SCHEMA geo; CREATE TABLE geo.sites (gid integer, geom text, geom__bidx bytea, nom_com text); CREATE TABLE geo.other (x integer)');
    try {
      let out = '';
      let err = '';
      const code = await main(['import', join(POLICIES, 'S22_proxy_boreholes_3857_simple_encryption_cab5ccb.xml'), '--name', 'imported', '--from-backend', cluster.url()],
        { out: (t) => { out += t; }, err: (t) => { err += t; } });
      expect(err).not.toMatch(/^refused/m);
      expect(code).toBe(0);
      const policy = parseAllDocuments(out)[0]?.toJS() as { spec: { datasets: Array<{ table: string; columns: Array<{ name: string }> }> } };
      expect(policy.spec.datasets.map((d) => `${d.table}: ${d.columns.map((c) => c.name).join(',')}`)).toEqual([
        'geo.sites: nom_com,geom',
        `public.ades_geofla_centroid: ${COLUMNS.filter((c) => c !== 'gid').join(',')}`,
      ]);
    } finally {
      await backend.query('DROP SCHEMA geo CASCADE; DROP TABLE public.ades_geofla_centroid');
    }
  });
});
