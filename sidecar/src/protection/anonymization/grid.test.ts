// Geometric coarsening (grid.ts): points snapped to a grid, in every form a client sends them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shiftPoint, snapToGrid } from './grid.ts';

/** Hex EWKB of a 2-D point (little or big endian, with or without SRID). */
function ewkb(x: number, y: number, srid?: number, le = true): string {
  const b = Buffer.alloc(srid === undefined ? 21 : 25);
  b[0] = le ? 1 : 0;
  const type = 1 | (srid === undefined ? 0 : 0x20000000);
  if (le) b.writeUInt32LE(type, 1); else b.writeUInt32BE(type, 1);
  let at = 5;
  if (srid !== undefined) { if (le) b.writeUInt32LE(srid, 5); else b.writeUInt32BE(srid, 5); at = 9; }
  if (le) { b.writeDoubleLE(x, at); b.writeDoubleLE(y, at + 8); } else { b.writeDoubleBE(x, at); b.writeDoubleBE(y, at + 8); }
  return b.toString('hex').toUpperCase();
}

describe('snapToGrid', () => {
  it('snaps WKT, EWKT and hex EWKB points of a projected SRS to the nearest grid node, keeping the SRID', () => {
    expect(snapToGrid('POINT(1049 -3051)', 100)).toBe('POINT(1000 -3100)');
    expect(snapToGrid('SRID=3857;POINT(1051.5 49.9)', 100)).toBe('SRID=3857;POINT(1100 0)');
    expect(snapToGrid(' srid=25830;point ( 7.3e2  12 ) ', 500)).toBe('SRID=25830;POINT(500 0)');
    expect(snapToGrid(ewkb(1049, 2951, 3857), 100)).toBe('SRID=3857;POINT(1000 3000)');
    expect(snapToGrid(ewkb(1049, 2951, 3857, false), 100)).toBe('SRID=3857;POINT(1000 3000)');
    expect(snapToGrid(ewkb(1049, 2951), 100)).toBe('POINT(1000 3000)');
  });

  it('snaps longitude/latitude points to a grid of metres (Web Mercator), in degrees, idempotently', () => {
    // The first borehole of the CLARUS data (SRID 4326).
    const out = snapToGrid('0101000020E6100000683EE76ED7CBE03F3D0B42791F814440', 1773) as string;
    const m = /^SRID=4326;POINT\(([-\d.e]+) ([-\d.e]+)\)$/.exec(out);
    expect(m).not.toBeNull();
    const [x, y] = [Number(m?.[1]), Number(m?.[2])];
    expect(Math.abs(x - 0.5249)).toBeLessThan(0.02);
    expect(Math.abs(y - 41.0088)).toBeLessThan(0.02);
    expect(x).not.toBe(0.5249);
    expect(snapToGrid(out, 1773)).toBe(out);
    expect(snapToGrid('SRID=4326;POINT(200 10)', 100)).toBeUndefined();
  });

  it('is idempotent and moves no point further than half a cell diagonal (projected)', () => {
    fc.assert(fc.property(fc.double({ min: -1e7, max: 1e7, noNaN: true }), fc.double({ min: -1e7, max: 1e7, noNaN: true }), fc.integer({ min: 1, max: 100_000 }), (x, y, size) => {
      const out = snapToGrid(`SRID=3857;POINT(${x} ${y})`, size) as string;
      expect(snapToGrid(out, size)).toBe(out);
      const [sx, sy] = (/POINT\((\S+) (\S+)\)/.exec(out) as RegExpExecArray).slice(1).map(Number) as [number, number];
      expect(Math.hypot(sx - x, sy - y)).toBeLessThanOrEqual((size * Math.SQRT2) / 2 + 1e-6);
    }));
  });

  it('takes nothing but a 2-D point', () => {
    for (const v of ['LINESTRING(0 0, 1 1)', 'POINT EMPTY', 'POINT Z (1 2 3)', 'POINT(1)', '0101000080000000000000F03F', 'not a point', '', ewkb(1, 2).slice(0, 40)]) {
      expect(snapToGrid(v, 10), v).toBeUndefined();
    }
  });
});

describe('shiftPoint', () => {
  it('moves a point uniformly within the radius (projected), keeps the SRID, draws anew each time', () => {
    let seed = 1;
    const random = (): number => { seed = (seed * 16807) % 2147483647; return (seed - 1) / 2147483646; };
    const outs = Array.from({ length: 2000 }, () => shiftPoint('SRID=3857;POINT(1000 2000)', 500, random) as string);
    const pts = outs.map((o) => (/^SRID=3857;POINT\((\S+) (\S+)\)$/.exec(o) as RegExpExecArray).slice(1).map(Number) as [number, number]);
    const d = pts.map(([x, y]) => Math.hypot(x - 1000, y - 2000));
    expect(Math.max(...d)).toBeLessThanOrEqual(500);
    // Uniform over the disc: a quarter of the points within half the radius.
    expect(d.filter((r) => r <= 250).length / d.length).toBeGreaterThan(0.2);
    expect(d.filter((r) => r <= 250).length / d.length).toBeLessThan(0.3);
    expect(new Set(outs).size).toBe(outs.length);
  });

  it('shifts degrees within the radius in Web Mercator metres, and takes nothing but a point', () => {
    const out = shiftPoint('SRID=4326;POINT(2.35 48.85)', 1000, () => 0.999) as string;
    const [x, y] = (/POINT\((\S+) (\S+)\)/.exec(out) as RegExpExecArray).slice(1).map(Number) as [number, number];
    expect(Math.abs(x - 2.35)).toBeLessThan(0.02);
    expect(Math.abs(y - 48.85)).toBeLessThan(0.02);
    expect([x, y]).not.toEqual([2.35, 48.85]);
    expect(shiftPoint('LINESTRING(0 0, 1 1)', 10, Math.random)).toBeUndefined();
  });
});
