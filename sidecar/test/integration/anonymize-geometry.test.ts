// Issue 13: geometric coarsening (generalize.gridMeters) on real PostGIS geometry columns
// (Debian's postgresql-15-postgis-3, installed by scripts/setup.sh): points written through the
// proxy as EWKT constants, hex EWKB parameters and COPY are stored snapped to the grid; the backend's
// rows, pg_dump and server log (log_statement = all) never hold a point as sent.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { achievedK } from '@clarus/testing/anonymity.ts';
import { USERS, canariesInDump, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';

const POSTGIS = existsSync('/usr/share/postgresql/15/extension/postgis.control');
if (!POSTGIS) console.warn('anonymize-geometry: PostGIS is not installed (postgresql-15-postgis-3): run `make setup` as root; these tests are skipped');

const B = 'cloud-a';
const POLICY: RuntimePolicy = {
  name: 'sites', onUnsupported: 'reject', defaultBackend: B,
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [{
    name: 'sites', schema: 'public', table: 'site',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend: B },
      { name: 'geom', attributeType: 'quasiIdentifier', backend: B, anonymize: { generalize: { gridMeters: 1000 } } },
      { name: 'wgs', attributeType: 'quasiIdentifier', backend: B, anonymize: { generalize: { gridMeters: 1000 } } },
      { name: 'moved', attributeType: 'quasiIdentifier', backend: B, anonymize: { generalize: { shiftMeters: 500 } } },
    ],
  }, {
    // The meuse soil samples: the point and the zinc level are quasi-identifiers, microaggregated (k=3).
    name: 'meuse', schema: 'public', table: 'meuse',
    columns: [
      { name: 'gid', attributeType: 'technicalIdentifier', backend: B },
      { name: 'zinc', attributeType: 'quasiIdentifier', backend: B, anonymize: { kAnonymity: { k: 3 } } },
      { name: 'geom', attributeType: 'quasiIdentifier', backend: B, anonymize: { kAnonymity: { k: 3 } } },
    ],
  }],
};
const MEUSE = readFileSync(clarusFile('meuse2.txt'), 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split(','));

/** Hex EWKB of a 2-D point with an SRID (little endian), as PostGIS prints it. */
function ewkb(x: number, y: number, srid: number): string {
  const b = Buffer.alloc(25);
  b[0] = 1;
  b.writeUInt32LE(0x20000001, 1);
  b.writeUInt32LE(srid, 5);
  b.writeDoubleLE(x, 9);
  b.writeDoubleLE(y, 17);
  return b.toString('hex').toUpperCase();
}

// Canary coordinates (metres, EPSG:3857; degrees, EPSG:4326): none may reach the backend.
const POINTS: Array<[number, number, number, number]> = [
  [123_456.789, 6_543_210.987, 2.354_321, 48.856_789],
  [-98_765.4321, 5_432_109.8765, -3.701_234, 40.416_789],
  [777_777.123, 4_444_444.321, 13.404_987, 52.520_123],
];

let cluster: PgCluster;
let env: ProtectedEnv;
let client: pg.Client;

describe.skipIf(!POSTGIS)('gridMeters on PostGIS points', () => {
  beforeAll(async () => {
    cluster = await startPostgres();
    await cluster.psql("ALTER SYSTEM SET log_statement = 'all'");
    await cluster.psql('SELECT pg_reload_conf()');
    await cluster.psql('CREATE EXTENSION postgis');
    await cluster.psql('CREATE TABLE site (id integer, geom geometry(Point, 3857), wgs geometry(Point, 4326), moved geometry(Point, 3857))');
    await cluster.psql('CREATE TABLE meuse (gid integer, zinc numeric, geom geometry(Point, 4326))');
    await cluster.psql('GRANT ALL ON site, meuse TO PUBLIC');
    env = await startProtected(cluster, POLICY);
    client = new pg.Client({ connectionString: env.url(USERS.doctor) });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await env?.close();
    await cluster?.destroy();
  });

  it('stores EWKT constants, hex EWKB parameters and COPY points snapped to the grid (metres; degrees through Web Mercator)', async () => {
    const logFrom = readFileSync(join(cluster.dir, 'server.log')).length;
    const [a, b, c] = POINTS as [typeof POINTS[0], typeof POINTS[0], typeof POINTS[0]];
    await client.query(`INSERT INTO site (id, geom, wgs) VALUES (1, 'SRID=3857;POINT(${a[0]} ${a[1]})', 'SRID=4326;POINT(${a[2]} ${a[3]})')`);
    await client.query('INSERT INTO site (id, geom, wgs) VALUES ($1, $2, $3)', [2, ewkb(b[0], b[1], 3857), ewkb(b[2], b[3], 4326)]);
    await pipeline(Readable.from([Buffer.from(`3\tSRID=3857;POINT(${c[0]} ${c[1]})\t${ewkb(c[2], c[3], 4326)}\n`)]), client.query(copyFrom('COPY site (id, geom, wgs) FROM STDIN')));
    const rows = (await env.backend.query<{ id: number; x: number; y: number; srid: number; lon: number; lat: number; wsrid: number; mx: number; my: number }>(
      `SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y, ST_SRID(geom) AS srid, ST_X(wgs) AS lon, ST_Y(wgs) AS lat, ST_SRID(wgs) AS wsrid,
        ST_X(ST_Transform(wgs, 3857)) AS mx, ST_Y(ST_Transform(wgs, 3857)) AS my FROM site ORDER BY id`)).rows;
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    for (const [i, r] of rows.entries()) {
      const p = POINTS[i] as typeof POINTS[0];
      expect([r.srid, r.wsrid]).toEqual([3857, 4326]);
      expect([r.x % 1000, r.y % 1000].map(Math.abs)).toEqual([0, 0]);
      expect(Math.hypot(r.x - p[0], r.y - p[1])).toBeLessThanOrEqual(1000 * Math.SQRT1_2);
      // The geographic point sits on a node of a 1 km Web Mercator grid (PostGIS's own projection).
      expect(Math.abs(r.mx - Math.round(r.mx / 1000) * 1000)).toBeLessThan(1e-3);
      expect(Math.abs(r.my - Math.round(r.my / 1000) * 1000)).toBeLessThan(1e-3);
      expect([r.lon, r.lat]).not.toEqual([p[2], p[3]]);
    }
    // No coordinate as sent in the stored rows' text, the dump or the server log.
    const canaries = POINTS.flatMap((p) => p.map(String)).concat(POINTS.flatMap((p) => [ewkb(p[0], p[1], 3857), ewkb(p[2], p[3], 4326)]));
    const text = JSON.stringify((await env.backend.query('SELECT ST_AsEWKT(geom) AS g, ST_AsEWKT(wgs) AS w, geom::text AS hg, wgs::text AS hw FROM site')).rows);
    expect(canaries.filter((k) => text.includes(k))).toEqual([]);
    const log = readFileSync(join(cluster.dir, 'server.log')).subarray(logFrom).toString('latin1');
    expect(canaries.filter((k) => log.toUpperCase().includes(k.toUpperCase()))).toEqual([]);
  });

  it('compares a point with the column on snapped forms, and refuses what is no point (22P02), storing nothing', async () => {
    const a = POINTS[0] as typeof POINTS[0];
    const r = await client.query({ text: 'SELECT id FROM site WHERE geom = $1', values: [`SRID=3857;POINT(${a[0] + 3} ${a[1] - 2})`] });
    expect(r.rows).toEqual([{ id: 1 }]);
    await expect(client.query("INSERT INTO site (id, geom) VALUES (9, 'SRID=3857;LINESTRING(0 0, 1 1)')")).rejects.toMatchObject({ code: '22P02' });
    expect((await env.backend.query('SELECT count(*)::int AS n FROM site WHERE id = 9')).rows).toEqual([{ n: 0 }]);
  });

  it('microaggregates points (kAnonymity on a geometry column): a COPY of the meuse set stores each class at its centroid', async () => {
    const csv = MEUSE.map((f) => `${f[0]},${f[4]},${f[13]}`).join('\n');
    await pipeline(Readable.from([Buffer.from(`${csv}\n`)]), client.query(copyFrom('COPY meuse (gid, zinc, geom) FROM STDIN (FORMAT csv)')));
    const rows = (await env.backend.query<{ zinc: string; geom: string; x: number; y: number; srid: number }>('SELECT zinc::text AS zinc, geom::text AS geom, ST_X(geom) AS x, ST_Y(geom) AS y, ST_SRID(geom) AS srid FROM meuse')).rows;
    expect(rows.length).toBe(MEUSE.length);
    expect(achievedK(rows.map((r) => [r.zinc, r.geom]), [0, 1])).toBeGreaterThanOrEqual(3);
    expect(rows.every((r) => r.srid === 4326)).toBe(true);
    const originals = new Set(MEUSE.map((f) => (f[13] as string).toUpperCase()));
    expect(rows.filter((r) => originals.has(r.geom.toUpperCase()))).toEqual([]);
    const dump = await canariesInDump(cluster, [...originals].slice(0, 50));
    expect(dump).toEqual([]);
  });

  it('shifts points (shiftMeters) to a random point within the radius, anew for each write; comparisons are refused', async () => {
    const [x, y] = [345_678.9, 6_789_012.3];
    for (let i = 0; i < 3; i++) await client.query(`INSERT INTO site (id, moved) VALUES (${20 + i}, 'SRID=3857;POINT(${x} ${y})')`);
    await client.query('INSERT INTO site (id, moved) VALUES ($1, $2)', [23, ewkb(x, y, 3857)]);
    const rows = (await env.backend.query<{ mx: number; my: number }>('SELECT ST_X(moved) AS mx, ST_Y(moved) AS my FROM site WHERE id >= 20 ORDER BY id')).rows;
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      expect(Math.hypot(r.mx - x, r.my - y)).toBeLessThanOrEqual(500 + 1e-6);
      expect([r.mx, r.my]).not.toEqual([x, y]);
    }
    expect(new Set(rows.map((r) => `${r.mx} ${r.my}`)).size).toBe(4);
    await expect(client.query(`SELECT id FROM site WHERE moved = 'SRID=3857;POINT(${x} ${y})'`)).rejects.toMatchObject({ code: '0A000', message: expect.stringMatching(/not deterministic/) });
  });
});
