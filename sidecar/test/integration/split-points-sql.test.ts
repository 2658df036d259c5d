// Points split by coordinates (issue 12, CLARUS `splitting_type: points`) in COPY FROM / COPY TO,
// SQL cursors and INSERT … SELECT, through the real proxy on two real backends (X with the row key
// on cloud-a, Y on cloud-b), against an unsplit PostGIS oracle: the same output, the same table.
// A value that is not a point stores nothing; a read-only grant copies out and cannot copy in; no
// backend's pg_dump or log_statement = all log holds both coordinates of a point, nor the point as
// sent.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { PG_BIN, startPostgres, SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import type { HarnessUser } from '@clarus/testing/proxy.ts';
import { copyIn, copyOut, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const POSTGIS = existsSync('/usr/share/postgresql/15/extension/postgis.control');

const POLICY: RuntimePolicy = {
  name: 'points-sql', onUnsupported: 'reject', defaultBackend: 'cloud-a',
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'sites', schema: 'public', table: 'site', rowKey: 'gid',
    columns: [
      { name: 'gid', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
      { name: 'geom', attributeType: 'quasiIdentifier', backend: 'cloud-b', coordinates: ['cloud-a', 'cloud-b'] },
    ],
  }],
};
const READER: HarnessUser = { name: 'reader', password: 'reader-pw', grants: [{ grant: 'r', datasets: ['sites'], access: 'read', view: 'plaintext' }] };
const CREATE = 'CREATE TABLE site (gid integer PRIMARY KEY, label text, geom geometry(Point, 4326))';

/**
 * Coordinates unlikely to appear anywhere by chance, each printed the same by PostGIS (15
 * significant digits at most) and PostgreSQL's float8 (shortest exact form).
 */
const POINTS = Array.from({ length: 12 }, (_, i) => [i + 1, Number(`5.73${100 + i}4567`), Number(`50.96${200 + i}1357`)] as const);

function ewkb(x: number, y: number): string {
  const b = Buffer.alloc(25);
  b.writeUInt8(1, 0);
  b.writeUInt32LE(0x20000001, 1);
  b.writeUInt32LE(4326, 5);
  b.writeDoubleLE(x, 9);
  b.writeDoubleLE(y, 17);
  return b.toString('hex').toUpperCase();
}

const run = promisify(execFile);
async function dump(c: PgCluster): Promise<string> {
  const { stdout } = await run(join(PG_BIN, 'pg_dump'), ['-h', c.host, '-p', String(c.port), '-U', SUPERUSER, 'postgres'], { env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD }, maxBuffer: 256 << 20 });
  if (!stdout.includes('PostgreSQL database dump')) throw new Error('pg_dump produced no dump');
  return stdout;
}

function holds(text: string, n: number): boolean {
  return new RegExp(`(^|[^0-9.])${String(n).replace(/[.+]/g, '\\$&')}($|[^0-9])`).test(text);
}

let env: SplitEnv;
let oracleCluster: PgCluster;
let oracle: pg.Client;
let doc: pg.Client;

async function same(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const got = (await doc.query(sql, params)).rows;
  const want = (await oracle.query(sql, params)).rows;
  expect(got, sql).toEqual(want);
  return got;
}

const TABLE = 'SELECT gid, label, geom FROM site ORDER BY gid';

describe.skipIf(!POSTGIS)('points split by coordinates: COPY, cursors, INSERT … SELECT', () => {
  beforeAll(async () => {
    [env, oracleCluster] = await Promise.all([startSplit({ backends: 2, policy: POLICY, users: [READER] }), startPostgres()]);
    oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
    await oracle.connect();
    await oracle.query('CREATE EXTENSION postgis');
    doc = await env.client();
    for (const c of [doc, oracle]) await c.query(CREATE);
  }, 180_000);
  afterAll(async () => {
    await oracle?.end().catch(() => undefined);
    await oracleCluster?.destroy();
    await env?.close();
  });

  it('COPY FROM STDIN (text and CSV; hex EWKB, EWKT, NULL) stores X on cloud-a and Y on cloud-b, the table the oracle has', async () => {
    const text = POINTS.slice(0, 6).map(([g, x, y]) => (g === 3 ? `${g}\tno point\t\\N` : g % 2 === 0 ? `${g}\tsite ${g}\t${ewkb(x, y)}` : `${g}\tsite ${g}\tSRID=4326;POINT(${x} ${y})`)).join('\n') + '\n';
    expect(await copyIn(doc, 'COPY site (gid, label, geom) FROM STDIN', text)).toBe(6);
    await copyIn(oracle, 'COPY site (gid, label, geom) FROM STDIN', text);
    const csv = 'gid,geom,label\n' + POINTS.slice(6).map(([g, x, y]) => `${g},${ewkb(x, y)},"site, ${g}"`).join('\n') + '\n';
    expect(await copyIn(doc, 'COPY site (gid, geom, label) FROM STDIN (FORMAT csv, HEADER)', csv)).toBe(6);
    await copyIn(oracle, 'COPY site (gid, geom, label) FROM STDIN (FORMAT csv, HEADER)', csv);
    await same(TABLE);
    await same('SELECT gid, ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM site ORDER BY gid');
    const [x4, y4] = [POINTS[3]?.[1], POINTS[3]?.[2]];
    expect((await env.backend('cloud-a').query('SELECT geom__x AS x, geom__srid AS s FROM site WHERE gid = 4')).rows).toEqual([{ x: x4, s: 4326 }]);
    expect((await env.backend('cloud-b').query('SELECT geom__y AS y FROM site WHERE gid = 4')).rows).toEqual([{ y: y4 }]);
  });

  it('COPY FROM with a value that is not a point fails (22023) and stores nothing on either backend', async () => {
    const bad = '100\tok\tSRID=4326;POINT(1.5 2.5)\n101\tbad\tLINESTRING(0 0, 1 1)\n';
    await expect(copyIn(doc, 'COPY site (gid, label, geom) FROM STDIN', bad)).rejects.toMatchObject({ code: '22023' });
    for (const b of ['cloud-a', 'cloud-b'] as const) expect((await env.backend(b).query('SELECT count(*)::int AS n FROM site WHERE gid >= 100')).rows[0].n).toBe(0);
  });

  it('COPY TO STDOUT (the table, a column list as CSV with a header, a SELECT with point functions) prints what the oracle prints', async () => {
    for (const sql of [
      'COPY site TO STDOUT',
      'COPY site (gid, geom) TO STDOUT (FORMAT csv, HEADER)',
      'COPY (SELECT gid, ST_AsText(geom), ST_X(geom) FROM site WHERE ST_Y(geom) > 50.96205 ORDER BY gid) TO STDOUT',
    ]) {
      const got = await copyOut(doc, sql);
      const want = await copyOut(oracle, sql);
      // COPY of a table has no order: compare the sorted lines.
      expect(got.split('\n').sort(), sql).toEqual(want.split('\n').sort());
      expect(got.length).toBeGreaterThan(0);
    }
  });

  it('a cursor over the points in a block: FETCH and MOVE give the oracle\'s rows', async () => {
    for (const c of [doc, oracle]) {
      await c.query('BEGIN');
      await c.query('DECLARE cur CURSOR FOR SELECT gid, geom, ST_AsEWKT(geom) AS e FROM site ORDER BY gid');
    }
    await same('FETCH 2 FROM cur');
    await same('MOVE 3 FROM cur');
    await same('FETCH ALL FROM cur');
    for (const c of [doc, oracle]) await c.query('COMMIT');
  });

  it('INSERT … SELECT copies the points (the recomposed point, and its EWKT) into new rows: the table the oracle has', async () => {
    await same('INSERT INTO site (gid, label, geom) SELECT gid + 1000, label, geom FROM site WHERE gid <= 4 RETURNING gid');
    const r = await same('INSERT INTO site (gid, label, geom) SELECT gid + 2000, \'copy\', ST_AsEWKT(geom) FROM site WHERE ST_X(geom) > $1 AND gid < 1000 RETURNING gid', [5.731064]);
    expect(r.length).toBe(6);
    await same(TABLE);
  });

  it('a read-only grant copies the points out and cannot copy them in', async () => {
    const reader = await env.client(READER);
    expect((await copyOut(reader, 'COPY site (gid, geom) TO STDOUT')).split('\n').filter(Boolean).length).toBe((await doc.query('SELECT count(*)::int AS n FROM site')).rows[0].n);
    await expect(copyIn(reader, 'COPY site (gid, geom) FROM STDIN', `500\t${ewkb(1.25, 2.25)}\n`)).rejects.toMatchObject({ code: '42501' });
  });

  it('no backend holds both coordinates of any point, nor the point as sent (tables, pg_dump, server log)', async () => {
    for (const b of ['cloud-a', 'cloud-b'] as BackendName[]) {
      const text = `${await dump(env.clusters.get(b) as PgCluster)}\n${env.serverLog(b)}`;
      for (const [g, x, y] of POINTS) {
        expect(holds(text, x) && holds(text, y), `${b} holds both coordinates of site ${g}`).toBe(false);
        expect(text.toUpperCase(), `${b} holds the EWKB of site ${g}`).not.toContain(ewkb(x, y));
        expect(text, `${b} holds the WKT of site ${g}`).not.toContain(`POINT(${x} ${y})`);
      }
      expect(holds(text, b === 'cloud-a' ? (POINTS[0]?.[1] as number) : (POINTS[0]?.[2] as number)), `${b} holds its own coordinate`).toBe(true);
    }
  });
});
