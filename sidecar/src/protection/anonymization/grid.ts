// Geometric coarsening (generalize.gridMeters): a point is snapped to the nearest node of a square
// grid of the given size, in the units of the point's spatial reference system (metres for a
// projected SRS such as EPSG:3857 or a UTM zone), as PostGIS's ST_SnapToGrid(geom, size) does; a
// point in degrees (SRID 4326, 4258, 4269) to a grid of that many metres of Web Mercator. Reads
// the forms a client sends for a PostGIS point: WKT `POINT(x y)`, EWKT `SRID=n;POINT(x y)`, and
// hex (E)WKB, either byte order; writes EWKT (the SRID kept). Anything else (other geometry types,
// Z/M coordinates, EMPTY) is not a point this protection can take: undefined (the write is refused).
// Snapping a snapped point gives it back, so a constant compared with the column is snapped the same
// way (anonymize-write.ts). Pure.

const NUM = '([-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?)';
const WKT = new RegExp(`^\\s*(?:SRID=(\\d+);)?\\s*POINT\\s*\\(\\s*${NUM}\\s+${NUM}\\s*\\)\\s*$`, 'i');
const WKB_POINT = 1;
const WKB_SRID_FLAG = 0x20000000;
const WKB_ZM_FLAGS = 0xc0000000;

export interface Point { x: number; y: number; srid?: number }

function fromWkt(text: string): Point | undefined {
  const m = WKT.exec(text);
  if (!m) return undefined;
  return { x: Number(m[2]), y: Number(m[3]), ...(m[1] ? { srid: Number(m[1]) } : {}) };
}

/** The bytes of a hex WKB point (21 bytes, 25 with an SRID) with a valid byte-order mark, else undefined. */
function wkbBytes(text: string): Buffer | undefined {
  if (!/^(?:[0-9A-Fa-f]{2})+$/.test(text) || (text.length !== 42 && text.length !== 50)) return undefined;
  const b = Buffer.from(text, 'hex');
  return b[0] === 0 || b[0] === 1 ? b : undefined;
}

function fromHexWkb(text: string): Point | undefined {
  const b = wkbBytes(text);
  if (!b) return undefined;
  const le = b[0] === 1;
  const u32 = (at: number): number => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const f64 = (at: number): number => (le ? b.readDoubleLE(at) : b.readDoubleBE(at));
  const type = u32(1);
  if ((type & 0xffff) !== WKB_POINT || (type & WKB_ZM_FLAGS) !== 0) return undefined;
  const srid = (type & WKB_SRID_FLAG) !== 0;
  if (b.length !== (srid ? 25 : 21)) return undefined;
  const at = srid ? 9 : 5;
  return { x: f64(at), y: f64(at + 8), ...(srid ? { srid: u32(5) } : {}) };
}

function snap(v: number, size: number): number {
  const s = Math.round(v / size) * size;
  return Object.is(s, -0) ? 0 : s;
}

/** Geographic SRSs (degrees): WGS 84, ETRS89, NAD83. Their grid is laid in Web Mercator metres. */
const GEOGRAPHIC = new Set([4326, 4258, 4269]);
const R = 6378137;
const MAX_LAT = 85.05112877980659;

/** A longitude/latitude point snapped to a grid of `size` metres of Web Mercator (EPSG:3857), back in degrees. */
function snapGeographic(p: Point, size: number): Point | undefined {
  if (Math.abs(p.x) > 180 || Math.abs(p.y) > 90) return undefined;
  const lat = Math.max(-MAX_LAT, Math.min(MAX_LAT, p.y));
  const mx = snap((R * p.x * Math.PI) / 180, size);
  const my = snap(R * Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)), size);
  const lon = (mx / R) * (180 / Math.PI);
  const back = (2 * Math.atan(Math.exp(my / R)) - Math.PI / 2) * (180 / Math.PI);
  return { x: Math.max(-180, Math.min(180, lon)), y: Math.max(-MAX_LAT, Math.min(MAX_LAT, back)), ...(p.srid !== undefined ? { srid: p.srid } : {}) };
}

/** A 2-D point in any form snapToGrid reads, or undefined. */
export function parsePoint(text: string): Point | undefined {
  const p = fromWkt(text) ?? fromHexWkb(text.trim());
  return p && Number.isFinite(p.x) && Number.isFinite(p.y) ? p : undefined;
}

/** EWKT of a point (WKT without an SRID). */
export function pointText(p: Point): string {
  const point = `POINT(${p.x} ${p.y})`;
  return p.srid !== undefined ? `SRID=${p.srid};${point}` : point;
}

/** Web Mercator metres of a longitude/latitude point, and back. */
function toMercator(p: Point): { x: number; y: number } {
  const lat = Math.max(-MAX_LAT, Math.min(MAX_LAT, p.y));
  return { x: (R * p.x * Math.PI) / 180, y: R * Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) };
}

function fromMercator(x: number, y: number): { x: number; y: number } {
  const lon = (x / R) * (180 / Math.PI);
  const lat = (2 * Math.atan(Math.exp(y / R)) - Math.PI / 2) * (180 / Math.PI);
  return { x: Math.max(-180, Math.min(180, lon)), y: Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) };
}

/**
 * The point moved to a uniformly random point of the disc of `radius` around it (CLARUS's "shift"),
 * as EWKT (degrees: the disc is laid in Web Mercator metres); undefined when the value is not a 2-D
 * point. `random` gives uniform numbers in [0, 1).
 */
export function shiftPoint(text: string, radius: number, random: () => number): string | undefined {
  const p = parsePoint(text);
  if (!p || !(radius > 0)) return undefined;
  const geographic = p.srid !== undefined && GEOGRAPHIC.has(p.srid);
  if (geographic && (Math.abs(p.x) > 180 || Math.abs(p.y) > 90)) return undefined;
  const r = radius * Math.sqrt(random());
  const a = 2 * Math.PI * random();
  const base = geographic ? toMercator(p) : p;
  const moved = { x: base.x + r * Math.cos(a), y: base.y + r * Math.sin(a) };
  const out = geographic ? fromMercator(moved.x, moved.y) : moved;
  return pointText({ ...out, ...(p.srid !== undefined ? { srid: p.srid } : {}) });
}

/**
 * The point snapped to the grid, as EWKT; undefined when the value is not a 2-D point. A point of a
 * geographic SRS (SRID 4326, 4258, 4269) is snapped to a grid of `size` metres of Web Mercator and
 * written back in degrees; any other point to a grid of `size` units of its own SRS.
 */
export function snapToGrid(text: string, size: number): string | undefined {
  const p = parsePoint(text);
  if (!p || !(size > 0)) return undefined;
  const q = p.srid !== undefined && GEOGRAPHIC.has(p.srid) ? snapGeographic(p, size) : { ...p, x: snap(p.x, size), y: snap(p.y, size) };
  return q ? pointText(q) : undefined;
}
