// The published CLARUS 1.0 policies that split points (S23: the proxy's boreholes test policy,
// `splitting_type="points"` over 2 clouds; S04: the splitting module's meuse policy), run for real:
// `clarus policy import` → validate → render → the proxy in front of two real PostgreSQL 15
// backends (csp1, csp2), loading CLARUS's own data (../shared/data/clarus/boreholes2.txt,
// meuse2.txt). Per policy: the client reads the points back as written, and neither backend holds
// both coordinates of a point or the point as sent (tables, pg_dump, server log with
// log_statement = all); S04's confidential columns are stored encrypted.
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { render } from '@clarus/policy/runtime/render.ts';
import { proxiesOf, selectForProxy } from '@clarus/policy/runtime/select.ts';
import { validateManifests } from '@clarus/policy/validate/index.ts';
import { protectionPipeline } from '@clarus/sidecar/access/setup.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';
import { PG_BIN, startPostgres, SUPERUSER, SUPERUSER_PASSWORD, type PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig, type RunningProxy } from '@clarus/testing/proxy.ts';
import { main } from '../../src/policy.ts';

const run = promisify(execFile);
const POLICIES = clarusFile('policies');
const APP = { name: 'app', password: 'app-pw', grants: [{ grant: 'g', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const }] };
const KEY = Buffer.alloc(32, 0x3c).toString('base64');
const CSPS = ['csp1', 'csp2'] as const;

const BORE_LINES = readFileSync(clarusFile('boreholes2.txt'), 'latin1').split('\n').filter(Boolean);
const BORE_COLUMNS = (BORE_LINES[0] ?? '').split(';').map((h) => h.split('/')[2] ?? '');
const BORE_ROWS = BORE_LINES.slice(1).map((l) => l.split(';'));
const BORE_TYPES: Record<string, string> = { gid: 'integer PRIMARY KEY', altitude: 'numeric', prof_max: 'numeric', geom: 'geometry(Point, 4326)' };

const MEUSE_ROWS = readFileSync(clarusFile('meuse2.txt'), 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(','));
/** meuse2.txt columns kept (index in the file → column); `dist.m` is not a plain identifier: quoted. */
const MEUSE_COLUMNS: Array<[number, string, string]> = [[0, 'gid', 'integer PRIMARY KEY'], [1, 'cadmium', 'numeric'], [2, 'copper', 'numeric'], [3, 'lead', 'numeric'],
  [4, 'zinc', 'numeric'], [5, 'elev', 'numeric'], [11, 'landuse', 'text'], [12, '"dist.m"', 'numeric'], [13, 'geom', 'geometry(Point, 4326)']];

/** The coordinates of a hex EWKB point (as String() prints them, the form PostgreSQL prints a float8). */
function coords(hex: string): [string, string] {
  const b = Buffer.from(hex, 'hex');
  return [String(b.readDoubleLE(9)), String(b.readDoubleLE(17))];
}

async function importPolicy(file: string, ...extra: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(['import', join(POLICIES, file), '--name', 'imported', '--namespace', 'ns', ...extra], { out: (s) => { out += s; }, err: (s) => { err += s; } });
  expect(err).not.toMatch(/^refused/m);
  expect(code).toBe(0);
  return out;
}

/** The import's manifests + a proxy and its Secrets → validate → render → the proxy's policy. */
function renderPolicy(yaml: string): { policy: RuntimePolicy; keyFiles: Map<string, string> } {
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>);
  const secret = (name: string, stringData: Record<string, string>): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns' }, stringData });
  const keys = Object.fromEntries(['default', '123'].map((k) => [`${k}.v1`, KEY]));
  const extra = [
    { apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', metadata: { name: 'proxy', namespace: 'ns' }, spec: { policyRef: { name: 'imported' } } },
    secret('imported-keys', keys),
    ...CSPS.flatMap((b) => [secret(`${b}-creds`, { username: 'u', password: 'p' }), secret(`${b}-readonly-creds`, { username: 'r', password: 'p' }), secret(`${b}-ca`, { 'ca.crt': 'x' })]),
  ];
  const v = validateManifests([...docs, ...extra].map((doc) => ({ doc, source: 'import' })));
  expect(v.issues.filter((i) => i.severity === 'error')).toEqual([]);
  const [proxy] = proxiesOf(v.set);
  const input = selectForProxy(v.set, proxy as NonNullable<typeof proxy>);
  if ('resource' in input) throw new Error(input.message);
  return { policy: render(input).config.policy, keyFiles: new Map(Object.entries(keys)) };
}

interface Env { proxy: RunningProxy; client: pg.Client; close(): Promise<void> }

async function startWith(policy: RuntimePolicy, keyFiles: Map<string, string>): Promise<Env> {
  const cfg = writeProxyConfig({ backends: CSPS.map((name) => ({ cluster: clusters.get(name) as PgCluster, name })), users: [APP] });
  cfg.write({ ...cfg.config, policy });
  mkdirSync(join(cfg.dir, policy.keyring.dir), { recursive: true });
  for (const [name, text] of keyFiles) writeFileSync(join(cfg.dir, policy.keyring.dir, name), text);
  const pipeline = await protectionPipeline({ configDir: cfg.dir, residual: {}, splitRecovery: { graceSeconds: 2, everySeconds: 3600 } });
  const proxy = await startProxyInProcess(cfg.dir, { pipeline, watch: false });
  const client = new pg.Client({ connectionString: proxy.url(APP) });
  await client.connect();
  return { proxy, client, close: async () => { await client.end(); await proxy.close(); cfg.destroy(); } };
}

const clusters = new Map<string, PgCluster>();
const direct = new Map<string, pg.Client>();

/** Everything a backend holds or was sent: pg_dump and the server log. */
async function holdings(name: string): Promise<string> {
  const c = clusters.get(name) as PgCluster;
  const { stdout } = await run(join(PG_BIN, 'pg_dump'), ['-h', c.host, '-p', String(c.port), '-U', SUPERUSER, 'postgres'], { env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD }, maxBuffer: 64 << 20 });
  expect(stdout).toContain('PostgreSQL database dump');
  return `${stdout}\n${readFileSync(join(c.dir, 'server.log'), 'latin1')}`;
}

const holds = (text: string, n: string): boolean => new RegExp(`(^|[^0-9.])${n.replace(/[.+]/g, '\\$&')}($|[^0-9])`).test(text);

/** Per backend: no point whole (both coordinates, EWKB, WKT); csp1 holds every X, csp2 every Y. */
async function checkPointsSplit(points: string[]): Promise<void> {
  const text = new Map<string, string>();
  for (const b of CSPS) text.set(b, await holdings(b));
  for (const hex of points) {
    const [x, y] = coords(hex);
    for (const [b, t] of text) {
      expect(holds(t, x) && holds(t, y), `${b} holds both coordinates of ${hex}`).toBe(false);
      expect(t.toUpperCase(), `${b} holds ${hex}`).not.toContain(hex.toUpperCase());
      expect(t, `${b} holds the WKT of ${hex}`).not.toContain(`POINT(${x} ${y})`);
    }
    expect(holds(text.get('csp1') as string, x), `csp1 holds X of ${hex}`).toBe(true);
    expect(holds(text.get('csp2') as string, y), `csp2 holds Y of ${hex}`).toBe(true);
  }
}

beforeAll(async () => {
  const list = await Promise.all(CSPS.map(() => startPostgres()));
  for (const [i, name] of CSPS.entries()) {
    const c = list[i] as PgCluster;
    clusters.set(name, c);
    appendFileSync(join(c.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_parameter_max_length = -1\n");
    const client = new pg.Client({ connectionString: c.url(), ssl: { ca: c.caPem } });
    await client.connect();
    await client.query('SELECT pg_reload_conf()');
    direct.set(name, client);
  }
}, 120_000);
afterAll(async () => {
  for (const c of direct.values()) await c.end().catch(() => undefined);
  for (const c of clusters.values()) await c.destroy();
});

describe('published CLARUS policies that split points, through a real proxy on two backends', () => {
  it('S23 (boreholes, splitting points over 2 clouds; --table for its */col names): read back as written, X on csp1 and Y on csp2 only', async () => {
    const table = `public.ades_geofla_centroid:${BORE_COLUMNS.join(',')}`;
    const { policy, keyFiles } = renderPolicy(await importPolicy('S23_proxy_boreholes_3857_splitting_points_to_points_755ac44.xml', '--table', table));
    expect(policy.datasets[0]?.columns.find((c) => c.name === 'geom')?.coordinates).toEqual(['csp1', 'csp2']);
    const env = await startWith(policy, keyFiles);
    try {
      await env.client.query(`CREATE TABLE ades_geofla_centroid (${BORE_COLUMNS.map((c) => `${c} ${BORE_TYPES[c] ?? 'text'}`).join(', ')})`);
      const insert = `INSERT INTO ades_geofla_centroid (${BORE_COLUMNS.join(', ')}) VALUES (${BORE_COLUMNS.map((_c, i) => `$${i + 1}`).join(', ')})`;
      for (const r of BORE_ROWS) await env.client.query(insert, r.map((v) => (v === '' ? null : v)));
      const back = await env.client.query({ text: `SELECT ${BORE_COLUMNS.join(', ')} FROM ades_geofla_centroid ORDER BY gid`, rowMode: 'array' });
      expect((back.rows as unknown[][]).map((row) => row.map((v) => (v === null ? '' : String(v))))).toEqual(BORE_ROWS);
      const geomAt = BORE_COLUMNS.indexOf('geom');
      const xy = await env.client.query('SELECT gid, ST_X(geom) AS x, ST_Y(geom) AS y FROM ades_geofla_centroid WHERE nom_com = $1', ['ROSANS']);
      const rosans = BORE_ROWS.find((r) => r[1] === 'ROSANS') as string[];
      expect(xy.rows).toEqual([{ gid: Number(rosans[0]), x: Number(coords(rosans[geomAt] as string)[0]), y: Number(coords(rosans[geomAt] as string)[1]) }]);
      expect(await columnsOf('csp2', 'ades_geofla_centroid')).toEqual(['gid', 'geom__y']);
      await checkPointsSplit(BORE_ROWS.map((r) => r[geomAt] as string));
      // Imported again against the home backend as the proxy left it (--from-backend): the same policy.
      const again = renderPolicy(await importPolicy('S23_proxy_boreholes_3857_splitting_points_to_points_755ac44.xml', '--from-backend', (clusters.get('csp1') as PgCluster).url())).policy;
      expect(again.datasets).toEqual(policy.datasets);
    } finally {
      await env.close();
      for (const c of direct.values()) await c.query('DROP TABLE IF EXISTS ades_geofla_centroid');
    }
  });

  it('S04 (meuse, splitting module; --row-key meuse=gid): points split, confidential columns encrypted, read back as written', async () => {
    const { policy, keyFiles } = renderPolicy(await importPolicy('S04_anonymization-module_properties3_20ec894.xml', '--row-key', 'meuse=gid'));
    const env = await startWith(policy, keyFiles);
    try {
      await env.client.query(`CREATE TABLE meuse (${MEUSE_COLUMNS.map(([, c, t]) => `${c} ${t}`).join(', ')})`);
      const insert = `INSERT INTO meuse (${MEUSE_COLUMNS.map(([, c]) => c).join(', ')}) VALUES (${MEUSE_COLUMNS.map((_c, i) => `$${i + 1}`).join(', ')})`;
      const rows = MEUSE_ROWS.slice(0, 40).map((r) => MEUSE_COLUMNS.map(([i]) => r[i] ?? null));
      for (const r of rows) await env.client.query(insert, r);
      const back = await env.client.query({ text: 'SELECT gid, zinc::float8 AS zinc, geom FROM meuse ORDER BY gid', rowMode: 'array' });
      expect(back.rows).toEqual(rows.map((r) => [Number(r[0]), Number(r[4]), r[8]]));
      const rich = await env.client.query('SELECT gid, ST_AsText(geom) AS t FROM meuse WHERE zinc = $1', [rows[0]?.[4]]);
      const [x0, y0] = coords(rows[0]?.[8] as string);
      expect(rich.rows).toEqual([{ gid: Number(rows[0]?.[0]), t: `POINT(${x0} ${y0})` }]);
      await checkPointsSplit(rows.map((r) => r[8] as string));
      // The confidential columns are ciphertext on the backend (deterministic, key "123").
      // (values that also occur in a column stored in clear — elev, dist.m — are not canaries)
      const clear = new Set(rows.flatMap((r) => [r[5], r[7]]));
      const cadmium = [...new Set(rows.map((r) => r[1] as string).filter((v) => v.length >= 8 && !clear.has(v)))];
      expect(cadmium.length).toBeGreaterThan(10);
      for (const b of CSPS) {
        const t = await holdings(b);
        expect(cadmium.filter((v) => t.includes(v)), `${b} holds cadmium plaintext`).toEqual([]);
      }
    } finally {
      await env.close();
      for (const c of direct.values()) await c.query('DROP TABLE IF EXISTS meuse');
    }
  });
});

async function columnsOf(backend: string, table: string): Promise<string[]> {
  const r = await (direct.get(backend) as pg.Client).query<{ c: string }>('SELECT attname AS c FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [table]);
  return r.rows.map((x) => x.c);
}
