// CLARUS's geometric splitting (issue 12, `splitting_type: points`) through the real proxy on two
// real backends: the meuse soil samples (CLARUS's own dataset, meuse2.txt of the CLARUS data folder)
// are written with their PostGIS points split by coordinate — X with the row key on cloud-a (home),
// Y with the row key on cloud-b — and read back recomposed. What the client reads is compared with
// an unsplit PostGIS oracle; what each backend stores, its pg_dump and its server log
// (log_statement = all) never hold both coordinates of one point, nor the point as sent.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';
import { PG_BIN, startPostgres, SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import type { HarnessUser } from '@clarus/testing/proxy.ts';
import { columnsOn, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const POSTGIS = existsSync('/usr/share/postgresql/15/extension/postgis.control');
if (!POSTGIS) console.warn('split-points: PostGIS is not installed (postgresql-15-postgis-3) for the oracle: run `make setup` as root; these tests are skipped');

const POLICY: RuntimePolicy = {
  name: 'meuse-points', onUnsupported: 'reject', defaultBackend: 'cloud-a',
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'meuse', schema: 'public', table: 'meuse', rowKey: 'gid',
    columns: [
      { name: 'gid', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'geom', attributeType: 'quasiIdentifier', backend: 'cloud-b', coordinates: ['cloud-a', 'cloud-b'] },
    ],
  }],
};
const READER: HarnessUser = { name: 'reader', password: 'reader-pw', grants: [{ grant: 'r', datasets: ['meuse'], access: 'read', view: 'plaintext' }] };

const CREATE = 'CREATE TABLE meuse (gid integer PRIMARY KEY, cadmium float8, zinc float8, landuse text, geom geometry(Point, 4326))';
// gid, cadmium, zinc, landuse, geom (hex EWKB, SRID 4326) of the 155 meuse samples.
const MEUSE = readFileSync(clarusFile('meuse2.txt'), 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(','))
  .map((f) => [Number(f[0]), Number(f[1]), Number(f[4]), f[11] ?? '', f[13] ?? ''] as const);

/** The coordinates of a hex EWKB point. */
function coords(hex: string): [number, number] {
  const b = Buffer.from(hex, 'hex');
  return [b.readDoubleLE(9), b.readDoubleLE(17)];
}

const run = promisify(execFile);
async function dump(c: PgCluster): Promise<string> {
  const { stdout } = await run(join(PG_BIN, 'pg_dump'), ['-h', c.host, '-p', String(c.port), '-U', SUPERUSER, 'postgres'], { env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD }, maxBuffer: 256 << 20 });
  if (!stdout.includes('PostgreSQL database dump')) throw new Error('pg_dump produced no dump');
  return stdout;
}

/** Whether `text` holds the number as PostgreSQL and JavaScript print it (shortest exact form), not inside a longer number. */
function holds(text: string, n: number): boolean {
  return new RegExp(`(^|[^0-9.])${String(n).replace(/[.+]/g, '\\$&')}($|[^0-9])`).test(text);
}

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try { await p; } catch (e) { return { code: (e as { code?: string }).code, message: (e as Error).message }; }
  throw new Error('the statement was not refused');
}

let env: SplitEnv;
let oracleCluster: PgCluster;
let oracle: pg.Client;
let doc: pg.Client;

/** The same statement through the proxy and against the oracle: the same rows. */
async function same(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const got = (await doc.query(sql, params)).rows;
  const want = (await oracle.query(sql, params)).rows;
  expect(got, sql).toEqual(want);
  return got;
}

describe.skipIf(!POSTGIS)('points split by coordinates over two backends (meuse)', () => {
  beforeAll(async () => {
    [env, oracleCluster] = await Promise.all([startSplit({ backends: 2, policy: POLICY, users: [READER] }), startPostgres()]);
    oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
    await oracle.connect();
    await oracle.query('CREATE EXTENSION postgis');
    doc = await env.client();
  }, 180_000);
  afterAll(async () => {
    await oracle?.end().catch(() => undefined);
    await oracleCluster?.destroy();
    await env?.close();
  });

  it('CREATE TABLE: X with the row key on cloud-a, Y with the row key on cloud-b, the SRID (checked) at home; no backend needs PostGIS', async () => {
    await oracle.query(CREATE);
    await doc.query(CREATE);
    expect(await columnsOn(env.backend('cloud-a'), 'public.meuse')).toEqual(['gid', 'cadmium', 'zinc', 'landuse', 'geom__x', 'geom__srid']);
    expect(await columnsOn(env.backend('cloud-b'), 'public.meuse')).toEqual(['gid', 'geom__y']);
    const types = await env.backend('cloud-b').query("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'public.meuse'::regclass AND attname = 'geom__y'");
    expect(types.rows[0].t).toBe('double precision');
    for (const b of ['cloud-a', 'cloud-b'] as const) expect((await env.backend(b).query("SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'postgis'")).rows[0].n).toBe(0);
  });

  it('loads the meuse samples (hex EWKB parameters and EWKT constants) and reads them as the oracle does', async () => {
    const ins = 'INSERT INTO meuse (gid, cadmium, zinc, landuse, geom) VALUES ($1, $2, $3, $4, $5)';
    for (const r of MEUSE.slice(0, 100)) {
      await doc.query(ins, [...r]);
      await oracle.query(ins, [...r]);
    }
    // The rest in one statement of constants, as EWKT.
    const rest = MEUSE.slice(100).map(([gid, cd, zn, lu, g]) => { const [x, y] = coords(g); return `(${gid}, ${cd}, ${zn}, '${lu}', 'SRID=4326;POINT(${x} ${y})')`; });
    const multi = `INSERT INTO meuse (gid, cadmium, zinc, landuse, geom) VALUES ${rest.join(', ')}`;
    expect((await doc.query(multi)).rowCount).toBe(rest.length);
    await oracle.query(multi);
    await same('SELECT gid, geom FROM meuse ORDER BY gid');
    await same('SELECT * FROM meuse ORDER BY gid');
    await same('SELECT gid, ST_AsText(geom), ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM meuse WHERE zinc > 500 ORDER BY zinc DESC, gid');
    await same('SELECT gid, st_asewkt(geom) AS e FROM meuse WHERE landuse = $1 ORDER BY gid', ['Ah']);
    await same('SELECT gid FROM meuse WHERE ST_X(geom) > 5.75 AND ST_Y(geom) < 50.97 ORDER BY gid');
    await same('SELECT landuse, count(*)::int AS n, round(avg(ST_X(geom))::numeric, 6) AS x FROM meuse GROUP BY landuse ORDER BY landuse');
    await same('SELECT a.gid AS a, b.gid AS b, ST_Distance(a.geom, b.geom) AS d FROM meuse a, meuse b WHERE a.gid < 5 AND b.gid < 5 ORDER BY 1, 2');
    // Not empty (the samples' coordinates are RD New metres under SRID 4326): a point value whose parts did not reach the engine would select nothing (NULL distances).
    expect(await same('SELECT gid, ST_Distance(geom, $1) AS d FROM meuse WHERE ST_Distance(geom, $1) < 300 ORDER BY 2, 1', ['SRID=4326;POINT(181100 333600)'])).not.toEqual([]);
    expect(await same("SELECT gid FROM meuse WHERE ST_Distance('0101000020E61000000000000060E9054100000000E0331441'::geometry, geom) < 400 ORDER BY gid")).not.toEqual([]);
    expect((await doc.query('SELECT count(*)::int AS n FROM meuse')).rows[0].n).toBe(MEUSE.length);
  });

  it('UPDATE and DELETE of points, NULL points: the same table as the oracle', async () => {
    for (const db of [doc, oracle]) {
      await db.query("UPDATE meuse SET geom = 'SRID=4326;POINT(5.7 50.9)' WHERE gid = 1");
      await db.query('UPDATE meuse SET geom = $1 WHERE gid = $2', ['0101000020E6100000000000000000164000000000008049C0', 3]);
      await db.query('UPDATE meuse SET geom = NULL WHERE gid = 4');
      await db.query('DELETE FROM meuse WHERE ST_X(geom) > 5.76');
      await db.query('INSERT INTO meuse (gid, zinc) VALUES (1000, 1)');
    }
    await same('SELECT gid, geom, ST_AsText(geom) AS t FROM meuse ORDER BY gid');
    await same('SELECT gid FROM meuse WHERE geom IS NULL ORDER BY gid');
    // Each fragment changed: X on cloud-a, Y on cloud-b.
    expect((await env.backend('cloud-a').query('SELECT geom__x AS x, geom__srid AS s FROM meuse WHERE gid = 1')).rows).toEqual([{ x: 5.7, s: 4326 }]);
    expect((await env.backend('cloud-b').query('SELECT geom__y AS y FROM meuse WHERE gid = 1')).rows).toEqual([{ y: 50.9 }]);
    expect((await env.backend('cloud-b').query('SELECT geom__y AS y FROM meuse WHERE gid = 4')).rows).toEqual([{ y: null }]);
  });

  it('a transaction block: a rolled-back point is on no backend, a committed one on both (two-phase commit)', async () => {
    await doc.query('BEGIN');
    await doc.query("INSERT INTO meuse (gid, geom) VALUES (5001, 'SRID=4326;POINT(5.71 50.91)')");
    expect((await doc.query('SELECT ST_AsText(geom) AS t FROM meuse WHERE gid = 5001')).rows).toEqual([{ t: 'POINT(5.71 50.91)' }]);
    await doc.query('ROLLBACK');
    await doc.query('BEGIN');
    await doc.query("INSERT INTO meuse (gid, geom) VALUES (5002, 'SRID=4326;POINT(5.72 50.92)')");
    await doc.query('COMMIT');
    expect((await env.backend('cloud-a').query('SELECT gid, geom__x AS x FROM meuse WHERE gid > 5000')).rows).toEqual([{ gid: 5002, x: 5.72 }]);
    expect((await env.backend('cloud-b').query('SELECT gid, geom__y AS y FROM meuse WHERE gid > 5000')).rows).toEqual([{ gid: 5002, y: 50.92 }]);
    await doc.query('DELETE FROM meuse WHERE gid = 5002');
  });

  it('a value that is not a point is refused (22023) and nothing is stored on either backend', async () => {
    const before = await Promise.all((['cloud-a', 'cloud-b'] as const).map(async (b) => (await env.backend(b).query('SELECT count(*)::int AS n FROM meuse')).rows[0].n));
    for (const [sql, params] of [
      ["INSERT INTO meuse (gid, geom) VALUES (2001, 'SRID=4326;LINESTRING(0 0, 1 1)')", []],
      ['INSERT INTO meuse (gid, geom) VALUES (2002, $1)', ['POINT Z (1 2 3)']],
      ['INSERT INTO meuse (gid, geom) VALUES (2003, $1)', ['not a geometry']],
      ['UPDATE meuse SET geom = $1 WHERE gid = 5', ['0102000020E610000002000000000000000000000000000000000000000000000000000000000000000000F03F']],
    ] as Array<[string, unknown[]]>) {
      expect((await refusal(doc.query(sql, params))).code, sql).toBe('22023');
    }
    const after = await Promise.all((['cloud-a', 'cloud-b'] as const).map(async (b) => (await env.backend(b).query('SELECT count(*)::int AS n FROM meuse')).rows[0].n));
    expect(after).toEqual(before);
    await same('SELECT gid, geom FROM meuse WHERE gid = 5');
  });

  it('a point of another SRID than the column\'s is refused (23514, the home CHECK) and stored nowhere', async () => {
    const r = await refusal(doc.query("INSERT INTO meuse (gid, geom) VALUES (3001, 'SRID=28992;POINT(181072 333611)')"));
    expect(r.code).toBe('23514');
    expect(r.message).toContain('clarus_point_srid_geom');
    await refusal(oracle.query("INSERT INTO meuse (gid, geom) VALUES (3001, 'SRID=28992;POINT(181072 333611)')"));
    expect((await refusal(doc.query("INSERT INTO meuse (gid, geom) VALUES (3002, 'POINT(1 2)')"))).code).toBe('23514');
    for (const b of ['cloud-a', 'cloud-b'] as const) expect((await env.backend(b).query('SELECT count(*)::int AS n FROM meuse WHERE gid IN (3001, 3002)')).rows[0].n).toBe(0);
  });

  it('ST_Distance to a point of another SRID fails, as in PostGIS', async () => {
    const r = await refusal(doc.query('SELECT ST_Distance(geom, $1) FROM meuse WHERE gid = 1', ['SRID=28992;POINT(1 2)']));
    expect(r.message).toContain('different SRIDs (4326, 28992)');
    await refusal(oracle.query('SELECT ST_Distance(geom, $1) FROM meuse WHERE gid = 1', ['SRID=28992;POINT(1 2)']));
    // Row-local over every row (streamed batch by batch), a simple Query with a constant point.
    const q = await refusal(doc.query("SELECT gid, ST_Distance(geom, 'SRID=28992;POINT(1 2)') FROM meuse"));
    expect(q.message).toContain('different SRIDs (4326, 28992)');
  });

  it('a point value reaches every way a read is answered (streamed row-local, whole, simple and extended)', async () => {
    // Row-local (poured batch by batch) and not (ORDER BY: the engine's result whole); a parameter and a constant.
    for (const sql of ['SELECT gid, ST_Distance(geom, $1) AS d FROM meuse', 'SELECT gid, ST_Distance(geom, $1) AS d FROM meuse ORDER BY gid',
      'SELECT gid, ST_Distance($1, geom) AS d FROM meuse WHERE gid < 20']) {
      const got = (await doc.query(sql, ['SRID=4326;POINT(181100 333600)'])).rows.sort((a, b) => a.gid - b.gid);
      const want = (await oracle.query(sql, ['SRID=4326;POINT(181100 333600)'])).rows.sort((a, b) => a.gid - b.gid);
      expect(got, sql).toEqual(want);
      expect(got.some((r) => typeof r.d === 'number'), sql).toBe(true);
    }
    const constant = "SELECT gid, ST_Distance(geom, 'SRID=4326;POINT(181100 333600)') AS d FROM meuse";
    const got = (await doc.query(constant)).rows.sort((a, b) => a.gid - b.gid);
    expect(got).toEqual((await oracle.query(constant)).rows.sort((a, b) => a.gid - b.gid));
    expect(got.some((r) => typeof r.d === 'number')).toBe(true);
    // A value that is not a point fails the streamed read (22023) and the session goes on.
    expect((await refusal(doc.query('SELECT gid, ST_Distance(geom, $1) FROM meuse', ['not a point']))).code).toBe('22023');
    expect((await doc.query('SELECT count(*)::int AS n FROM meuse')).rows).toEqual((await oracle.query('SELECT count(*)::int AS n FROM meuse')).rows);
  });

  it('what the proxy cannot compute over the split point is refused by name', async () => {
    for (const sql of [
      'SELECT gid FROM meuse ORDER BY geom',
      "SELECT gid FROM meuse WHERE geom = 'SRID=4326;POINT(5.7 50.9)'",
      'SELECT count(geom) FROM meuse',
      'SELECT ST_X(geom), * FROM meuse',
      'CREATE INDEX ON meuse (geom)',
    ]) {
      const r = await refusal(doc.query(sql));
      expect(r.code, sql).toBe('0A000');
      expect(r.message, sql).toMatch(/point column geom|split by coordinates/);
    }
    // A PostGIS function the proxy does not compute is not an allowlisted function.
    expect((await refusal(doc.query('SELECT ST_Buffer(geom, 1) FROM meuse'))).message).toMatch(/st_buffer/i);
  });

  it('a read-only grant reads the points but cannot write them', async () => {
    const reader = await env.client(READER);
    expect((await reader.query('SELECT gid, ST_X(geom) AS x FROM meuse WHERE gid = 1')).rows).toEqual([{ gid: 1, x: 5.7 }]);
    for (const sql of ["INSERT INTO meuse (gid, geom) VALUES (4001, 'SRID=4326;POINT(1 2)')", "UPDATE meuse SET geom = 'SRID=4326;POINT(1 2)'", 'DELETE FROM meuse']) {
      expect((await refusal(reader.query(sql))).code, sql).toBe('42501');
    }
    expect((await doc.query('SELECT ST_AsText(geom) AS t FROM meuse WHERE gid = 1')).rows).toEqual([{ t: 'POINT(5.7 50.9)' }]);
  });

  it('no backend holds both coordinates of any point, nor the point as sent (tables, pg_dump, server log)', async () => {
    const dumps = new Map<BackendName, string>();
    for (const b of ['cloud-a', 'cloud-b'] as const) dumps.set(b, `${await dump(env.clusters.get(b) as PgCluster)}\n${env.serverLog(b)}`);
    const a = dumps.get('cloud-a') as string;
    const bb = dumps.get('cloud-b') as string;
    let xsOnA = 0;
    let ysOnB = 0;
    for (const [gid, , , , g] of MEUSE) {
      const [x, y] = coords(g);
      for (const [name, text] of dumps) {
        expect(holds(text, x) && holds(text, y), `${name} holds both coordinates of meuse ${gid}`).toBe(false);
        expect(text.toUpperCase(), `${name} holds the EWKB of meuse ${gid}`).not.toContain(g.toUpperCase());
        expect(text, `${name} holds the WKT of meuse ${gid}`).not.toContain(`POINT(${x} ${y})`);
      }
      if (holds(a, x)) xsOnA++;
      if (holds(bb, y)) ysOnB++;
    }
    // The scan finds what each backend is meant to hold (so it would find the other coordinate too).
    expect(xsOnA).toBe(MEUSE.length);
    expect(ysOnB).toBe(MEUSE.length);
    expect(a.split('\n').filter((l) => /geometry|POINT\(/i.test(l))).toEqual([]);
    expect(bb.split('\n').filter((l) => /geometry|POINT\(/i.test(l))).toEqual([]);
  });

  it('DROP TABLE drops every fragment', async () => {
    await doc.query('DROP TABLE meuse');
    for (const b of ['cloud-a', 'cloud-b'] as const) expect((await env.backend(b).query("SELECT to_regclass('public.meuse') AS t")).rows[0].t).toBe(null);
  });
});
