// CLARUS's geometric splitting (issue 12, `splitting_type: points`): a PostGIS point column whose
// policy says `split: {coordinates: [bx, by]}` is stored as three hidden columns — `<col>__x`
// (double precision) with the row key on bx, `<col>__y` with the row key on by, and `<col>__srid`
// (integer, with a CHECK of the declared SRID) on the home backend — so no backend ever holds the
// whole point. Pure: a statement's tree over the logical table is rewritten into one over the
// hidden columns before split/plan.ts plans it, and the fragments' rows are recomposed into the
// point (hex EWKB, as PostGIS prints a geometry) before the proxy's engine reads them.
//
// * CREATE TABLE: `geom geometry(Point[, srid]) [NOT NULL]` becomes the three columns.
// * INSERT … VALUES / UPDATE … SET geom = v: v (WKT, EWKT, hex (E)WKB as a constant, a parameter,
//   NULL or DEFAULT) becomes three parameters derived at execution (a value that is not a 2-D point
//   fails with 22023).
// * Expressions: ST_X/ST_Y/ST_SRID(geom) read the hidden columns (so conditions on them are pushed
//   to the one backend that holds that coordinate), ST_AsText/ST_AsEWKT/ST_Distance (to another
//   such point, or to a point value whose parts become derived parameters) are computed by the
//   engine from them, `geom IS [NOT] NULL` reads X, a bare `geom` in the SELECT list is the
//   recomposed point. Any other use of the column is refused (0A000) by name.
import { arr, body, colRefNames, columnRef, isObj, paramRef, sval, typeNameOf } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import { parseStatements } from '../rewrite/parser.ts';
import { POINT_FUNCTIONS } from '../rewrite/split.ts';
import { parsePoint } from '../protection/anonymization/grid.ts';
import { StatementError } from '../session/pipeline.ts';
import type { FieldDescription } from '../protocol/types.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { SplitUnsupported } from './plan.ts';
import type { SplitLayout } from './layout.ts';

/** A point column split by coordinate, and the hidden columns that store it. */
export interface PointColumn { column: string; x: string; y: string; srid: string; xBackend: string; yBackend: string }

type Part = 'x' | 'y' | 'srid';

/** A parameter the proxy adds to the statement: one part of a point the client sent. */
export interface Derived { source: { param: number } | { text: string | null }; part: Part; column: string }

/** What the rewrite made of a statement. `keepParts`: the engine reads the hidden columns too. */
export interface PointRewrite { stmt: Json; derived: Derived[]; keepParts: boolean }

function unsupported(p: PointColumn, what: string): never {
  throw new SplitUnsupported(`${what} on point column ${p.column} (split by coordinates) is not supported`);
}

/** The point columns of the layouts a statement names (by table name), by column name. */
function pointsIn(layouts: Iterable<SplitLayout>): Map<string, PointColumn> {
  const out = new Map<string, PointColumn>();
  for (const l of layouts) for (const p of l.points ?? []) out.set(p.column, p);
  return out;
}

/** Replaces nodes top-down where `f` returns a node (not visited further); copies the rest. */
function mapTree(node: unknown, f: (n: Json) => unknown): unknown {
  if (Array.isArray(node)) return node.map((x) => mapTree(x, f));
  if (!isObj(node)) return node;
  // A node wrapped in KEEP is left as it is (a bare point reference in the SELECT list).
  if (KEEP in node) return node[KEEP];
  const replaced = f(node);
  if (replaced !== undefined) return replaced;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = mapTree(v, f);
  return out;
}

const KEEP = 'ClarusKeep';

/** An expression parsed from SQL whose `clarus_a_x`… column names become the given references. */
function template(sql: string, refs: Record<string, Json>): Json {
  const parsed = parseStatements(`SELECT ${sql}`)[0]?.stmt;
  const rt = body(arr(body(parsed, 'SelectStmt')?.targetList)[0], 'ResTarget') as Json;
  return mapTree(rt.val, (n) => {
    const c = body(n, 'ColumnRef');
    const name = c ? colRefNames(c).join('.') : '';
    return refs[name] ? structuredClone(refs[name]) : undefined;
  }) as Json;
}

/** `derived`: the parameters the rewrite adds (numbered from `first`), for point values and constants. */
interface Ctx { points: Map<string, PointColumn>; keepParts: boolean; select: boolean; derived: Derived[]; first: number }

/** A reference to a point column, with its qualifiers (`a.geom`). */
type Ref = { p: PointColumn; qual: string[] };

/** The point column a ColumnRef node names, with its qualifiers, or null. */
function pointRef(ctx: Ctx, n: unknown): Ref | null {
  const c = body(n, 'ColumnRef');
  if (!c) return null;
  const names = colRefNames(c);
  const p = ctx.points.get(names[names.length - 1] as string);
  return p ? { p, qual: names.slice(0, -1) } : null;
}

function partRef(ctx: Ctx, r: Ref, part: Part): Json {
  ctx.keepParts = true;
  return columnRef([...r.qual, r.p[part]]);
}

/** The references a point expression template reads: `<prefix>_x`, `<prefix>_y`, `<prefix>_srid`. */
function partRefs(ctx: Ctx, r: Ref, prefix: string): Record<string, Json> {
  return { [`${prefix}_x`]: partRef(ctx, r, 'x'), [`${prefix}_y`]: partRef(ctx, r, 'y'), [`${prefix}_srid`]: partRef(ctx, r, 'srid') };
}

// PostGIS prints an SRID only when it is not 0 (ST_AsEWKT); a distance between points of two SRIDs
// is an error there too (here a 22P02 whose text says why).
const AS_TEXT = `'POINT(' || a_x::text || ' ' || a_y::text || ')'`;
const AS_EWKT = `CASE WHEN a_srid = 0 THEN '' ELSE 'SRID=' || a_srid::text || ';' END || ${AS_TEXT}`;
const DISTANCE = `CASE WHEN a_srid = b_srid THEN sqrt((a_x - b_x) * (a_x - b_x) + (a_y - b_y) * (a_y - b_y)) `
  + `ELSE ('clarus: ST_Distance of points with different SRIDs (' || a_srid::text || ', ' || b_srid::text || ')')::float8 END`;

const AS_TEXT_A = AS_TEXT.replace(/a_/g, 'clarus_a_');
const AS_EWKT_A = AS_EWKT.replace(/a_/g, 'clarus_a_');
const DISTANCE_AB = DISTANCE.replace(/\b([ab])_/g, 'clarus_$1_');
const DISTANCE_PARAM = DISTANCE_AB.replace("' || clarus_b_srid::text || ')'", "' || clarus_b_srid::text || ') to ' || clarus_b_value::text");

/** The point functions of one argument, over its hidden parts. */
const ONE_ARGUMENT: Record<string, (ctx: Ctx, r: Ref) => Json> = {
  st_x: (ctx, r) => partRef(ctx, r, 'x'),
  st_y: (ctx, r) => partRef(ctx, r, 'y'),
  st_srid: (ctx, r) => partRef(ctx, r, 'srid'),
  st_astext: (ctx, r) => template(AS_TEXT_A, partRefs(ctx, r, 'clarus_a')),
  st_asewkt: (ctx, r) => template(AS_EWKT_A, partRefs(ctx, r, 'clarus_a')),
};

function pointFunction(refs: Ref[], name: string, ctx: Ctx): Json {
  const [a, b] = refs as [Ref, Ref | undefined];
  const one = ONE_ARGUMENT[name];
  if (one && refs.length === 1) return one(ctx, a);
  if (name === 'st_distance' && b && refs.length === 2) return template(DISTANCE_AB, { ...partRefs(ctx, a, 'clarus_a'), ...partRefs(ctx, b, 'clarus_b') });
  return unsupported(a.p, `${name} with ${refs.length} argument(s)`);
}

/**
 * ST_Distance of a split point and a point value (a WKT/EWKT/hex EWKB constant or a parameter):
 * the value's parts become parameters the proxy derives at execution, as for a written point.
 */
function distanceToValue(ctx: Ctx, a: Ref, value: unknown): Json {
  const [x, y, srid] = valueParts(a.p, value, ctx.derived, ctx.first);
  const refs = { ...partRefs(ctx, a, 'clarus_a'), clarus_b_x: x as Json, clarus_b_y: y as Json, clarus_b_srid: srid as Json };
  // The engine types every parameter from its use: a client parameter read only through its parts
  // is named in the error branch (as text), which only the proxy's engine evaluates (the expression
  // reads both coordinates, so no fragment ever gets it).
  const param = body(body(value, 'TypeCast')?.arg ?? value, 'ParamRef');
  if (!param) return template(DISTANCE_AB, refs);
  return template(DISTANCE_PARAM, { ...refs, clarus_b_value: paramRef(param.number as number) });
}

/** A call with `*`, DISTINCT or OVER: not one of the point functions the proxy computes. */
function plainCall(fc: Json): boolean {
  return Boolean(fc.agg_star || fc.agg_distinct || fc.over);
}

/** Another function: refused over a point column (by its name), else left as it is (null). */
function otherFunction(args: Array<Ref | null>, names: string[]): null {
  const first = args.find((a) => a !== null);
  if (first) unsupported(first.p, `${names.join('.')}()`);
  return null;
}

/** A call of a point function over split point columns, rewritten; null when it is not one. */
function pointCall(ctx: Ctx, n: Json): Json | null {
  const fc = body(n, 'FuncCall');
  if (!fc) return null;
  const names = arr(fc.funcname).map((x) => sval(x) ?? '');
  const name = names.length === 1 && !plainCall(fc) ? (names[0] as string).toLowerCase() : '';
  const args = arr(fc.args).map((a) => pointRef(ctx, a));
  if (!POINT_FUNCTIONS.has(name)) return otherFunction(args, names);
  const refs = args.filter((a): a is Ref => a !== null);
  if (name === 'st_distance' && args.length === 2 && refs.length === 1) return distanceToValue(ctx, refs[0] as Ref, arr(fc.args)[args[0] ? 1 : 0]);
  return pointFunction(onlyPoints(name, refs, args.length), name, ctx);
}

/** The arguments, which must all be split point columns. */
function onlyPoints(name: string, refs: Ref[], given: number): Ref[] {
  if (refs.length === 0 || refs.length !== given) throw new SplitUnsupported(`${name}() is computed by the proxy only over point columns split by coordinates (not over other values)`);
  return refs;
}

/** `geom IS [NOT] NULL`: the point is NULL exactly when its X is. */
function pointNullTest(ctx: Ctx, n: Json): Json | null {
  const nt = body(n, 'NullTest');
  const r = nt ? pointRef(ctx, nt.arg) : null;
  if (!nt || !r) return null;
  // A SELECT reads the recomposed point (NULL when it is); a write's condition goes to X's backend.
  if (ctx.select) return structuredClone(n);
  return { NullTest: { ...nt, arg: partRef(ctx, r, 'x') } };
}

/** A top-level SELECT item: a bare point is kept (recomposed), a function call keeps PostgreSQL's column name. */
function markTarget(ctx: Ctx, rt: Json | null): void {
  if (!rt) return;
  if (pointRef(ctx, rt.val)) rt.val = { [KEEP]: rt.val };
  // The column keeps the name PostgreSQL gives a function call (st_x…), not the hidden column's.
  const fc = rt.name ? null : body(rt.val, 'FuncCall');
  if (fc) rt.name = sval(arr(fc.funcname).at(-1)) ?? undefined;
}

/**
 * Point functions, NULL tests and bare references in the top-level SELECT list rewritten; any
 * other reference to a point column refused.
 */
function rewriteExpressions(ctx: Ctx, stmt: Json): Json {
  const sel = body(stmt, 'SelectStmt');
  if (sel && sel.op === 'SETOP_NONE') for (const t of arr(sel.targetList)) markTarget(ctx, body(t, 'ResTarget'));
  return mapTree(stmt, (n) => {
    const call = pointCall(ctx, n) ?? pointNullTest(ctx, n);
    if (call) return call;
    const r = pointRef(ctx, n);
    if (r) unsupported(r.p, 'this use (only ST_X, ST_Y, ST_SRID, ST_AsText, ST_AsEWKT, ST_Distance, IS NULL and the column itself in the SELECT list are)');
    return undefined;
  }) as Json;
}

/** Where a SELECT list holds `*` (every column: the engine then shows only the recomposed point). */
function hasStar(stmt: Json): boolean {
  let star = false;
  mapTree(stmt, (n) => { const c = body(n, 'ColumnRef'); if (c && colRefNames(c).includes('*')) star = true; return undefined; });
  return star;
}

// ---- values ----

/** Three parameters (x, y, srid) numbered from `next` for one point value: a constant, a parameter, NULL or DEFAULT. */
function valueParts(p: PointColumn, v: unknown, derived: Derived[], next: number): Json[] {
  if (body(v, 'SetToDefault')) return [v as Json, structuredClone(v) as Json, structuredClone(v) as Json];
  const source = valueSource(p, v);
  return (['x', 'y', 'srid'] as const).map((part) => {
    derived.push({ source, part, column: p.column });
    return paramRef(next + derived.length - 1);
  });
}

/** Where a point value comes from: a parameter or a constant (NULL included), under an optional cast to geometry or text. */
function valueSource(p: PointColumn, v: unknown): Derived['source'] {
  const tc = body(v, 'TypeCast');
  if (tc && !['geometry', 'text'].includes(typeNameOf(tc.typeName as Json))) unsupported(p, `a value cast to ${typeNameOf(tc.typeName as Json)}`);
  const inner = tc ? tc.arg : v;
  const param = body(inner, 'ParamRef');
  if (param) return { param: param.number as number };
  const c = body(inner, 'A_Const');
  if (c?.isnull) return { text: null };
  if (c && isObj(c.sval)) return { text: String(c.sval.sval ?? '') };
  return unsupported(p, 'a value other than a WKT/EWKT/hex EWKB constant, a parameter, NULL or DEFAULT');
}

function rewriteInsert(ctx: Ctx, st: Json, derived: Derived[], first: number): void {
  const cols = arr(st.cols).map((c) => body(c, 'ResTarget')?.name as string);
  const rows = arr(body(st.selectStmt, 'SelectStmt')?.valuesLists).map((r) => body(r, 'List') as Json);
  if (cols.length === 0) return; // refused by the plan (an INSERT without a column list)
  // A point the INSERT does not name is NULL: its parts are written anyway, so that every fragment
  // has the row (a row missing on a fragment is never shown).
  for (const p of ctx.points.values()) {
    if (cols.includes(p.column)) continue;
    cols.push(p.column);
    st.cols = [...arr(st.cols), { ResTarget: { name: p.column, location: -1 } }];
    for (const row of rows) row.items = [...arr(row.items), { A_Const: { isnull: true, location: -1 } }];
  }
  const at = cols.map((c, i) => ({ p: ctx.points.get(c), i })).filter((x): x is { p: PointColumn; i: number } => x.p !== undefined);
  for (const row of rows) {
    const items = arr(row.items);
    row.items = items.flatMap((v, i) => { const hit = at.find((x) => x.i === i); return hit ? valueParts(hit.p, v, derived, first) : [v]; });
  }
  st.cols = cols.flatMap((c) => { const p = ctx.points.get(c); return (p ? [p.x, p.y, p.srid] : [c]).map((name) => ({ ResTarget: { name, location: -1 } })); });
}

function rewriteUpdate(ctx: Ctx, st: Json, derived: Derived[], first: number): void {
  st.targetList = arr(st.targetList).flatMap((t) => {
    const rt = body(t, 'ResTarget') as Json;
    const p = ctx.points.get(rt.name as string);
    if (!p) return [t];
    if (arr(rt.indirection).length > 0) unsupported(p, 'UPDATE of a part of the point');
    const parts = valueParts(p, rt.val, derived, first);
    return [p.x, p.y, p.srid].map((name, k) => ({ ResTarget: { name, val: parts[k], location: -1 } }));
  });
}

// ---- DDL ----

/** `geometry(Point[, srid])` → the SRID (0 without one); anything else is refused. */
function declaredSrid(p: PointColumn, tn: Json): number {
  const mods = arr(tn.typmods);
  if (!isPointType(tn, mods)) unsupported(p, 'a column type other than geometry(Point[, srid]) (a geometry that is not a 2-D point)');
  const srid = body(mods[1], 'A_Const')?.ival as Json | undefined;
  return Number(srid?.ival ?? 0);
}

function isPointType(tn: Json, mods: unknown[]): boolean {
  const kind = body(mods[0], 'ColumnRef');
  const kindName = kind ? colRefNames(kind).join('.').toLowerCase() : '';
  return typeNameOf(tn) === 'geometry' && kindName === 'point' && mods.length <= 2 && arr(tn.arrayBounds).length === 0;
}

function pointColumnDefs(p: PointColumn, cd: Json, table: string): unknown[] {
  const srid = declaredSrid(p, cd.typeName as Json);
  const nn = notNullOf(p, cd) ? ' NOT NULL' : '';
  const check = srid !== 0 ? ` CONSTRAINT ${quote(`clarus_point_srid_${p.column}`)} CHECK (${quote(p.srid)} = ${srid})` : '';
  const sql = `CREATE TABLE ${quote(table)} (${quote(p.x)} float8${nn}, ${quote(p.y)} float8${nn}, ${quote(p.srid)} int4${nn}${check})`;
  return arr(body(parseStatements(sql)[0]?.stmt, 'CreateStmt')?.tableElts);
}

/** Whether the point is NOT NULL; constraints other than [NOT] NULL are refused. */
function notNullOf(p: PointColumn, cd: Json): boolean {
  const kinds = arr(cd.constraints).map((c) => String(body(c, 'Constraint')?.contype));
  const other = kinds.find((k) => k !== 'CONSTR_NOTNULL' && k !== 'CONSTR_NULL');
  if (other) unsupported(p, `a ${other.replace(/^CONSTR_/, '')} constraint`);
  return kinds.includes('CONSTR_NOTNULL');
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function rewriteCreate(ctx: Ctx, st: Json): void {
  st.tableElts = arr(st.tableElts).flatMap((e) => {
    const cd = body(e, 'ColumnDef');
    const p = cd ? ctx.points.get(cd.colname as string) : undefined;
    if (cd && p) return pointColumnDefs(p, cd, String((st.relation as Json).relname));
    const con = body(e, 'Constraint');
    const named = [...arr(con?.keys), ...arr(con?.fk_attrs), ...arr(con?.including)].map((k) => sval(k) ?? '');
    const hit = named.map((k) => ctx.points.get(k)).find((x) => x !== undefined);
    if (hit) unsupported(hit, 'a table constraint');
    return [e];
  });
}

/** Other statements (ALTER TABLE, CREATE INDEX…) must not name a point column. */
function refuseMention(ctx: Ctx, stmt: Json, kind: string): void {
  mapTree(stmt, (n) => {
    for (const v of Object.values(n)) {
      const p = typeof v === 'string' ? ctx.points.get(v) : undefined;
      if (p) unsupported(p, kind);
    }
    return undefined;
  });
}

/** The statement-specific part: the values of INSERT and UPDATE; statements that may not name a point at all. */
function rewriteStatement(ctx: Ctx, [tag, b]: [string, Json], derived: Derived[], first: number): void {
  if (tag === 'InsertStmt') rewriteInsert(ctx, b, derived, first);
  else if (tag === 'UpdateStmt') rewriteUpdate(ctx, b, derived, first);
  else if (!['SelectStmt', 'DeleteStmt', 'DropStmt'].includes(tag)) refuseMention(ctx, { [tag]: b }, tag.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase());
}

/**
 * The statement rewritten over the hidden columns of every point column of `layouts`, or null
 * when none of them has a point column. `paramCount`: the client's highest `$n` (derived
 * parameters are numbered after it); `target`: the split table the statement writes or creates.
 * Throws SplitUnsupported.
 */
export function rewritePoints(layouts: Iterable<SplitLayout>, stmt: Json, paramCount: number, target?: SplitLayout): PointRewrite | null {
  // A write or CREATE TABLE names one table: only its point columns are rewritten.
  const own = target && ['InsertStmt', 'UpdateStmt', 'CreateStmt'].some((t) => t in stmt);
  const points = pointsIn(own ? [target] : layouts);
  if (points.size === 0) return null;
  const ctx: Ctx = { points, keepParts: false, select: 'SelectStmt' in stmt, derived: [], first: paramCount + 1 };
  const copy = structuredClone(stmt);
  const derived = ctx.derived;
  const [tag, b] = Object.entries(copy)[0] as [string, Json];
  if (tag === 'CreateStmt') {
    rewriteCreate(ctx, b);
    return { stmt: copy, derived, keepParts: false };
  }
  rewriteStatement(ctx, [tag, b], derived, ctx.first);
  const out = rewriteExpressions(ctx, copy);
  if (ctx.keepParts && tag === 'SelectStmt' && hasStar(out)) {
    throw new SplitUnsupported('SELECT * together with ST_X/ST_Y/ST_SRID/ST_AsText/ST_AsEWKT/ST_Distance or IS NULL over a point column split by coordinates is not supported: list the columns');
  }
  return { stmt: out, derived, keepParts: ctx.keepParts };
}

// ---- execution: derived parameters ----

/** The values of the derived parameters (appended after the client's), from the client's values. */
export function derivedValues(derived: readonly Derived[], values: ReadonlyArray<string | null>): Array<string | null> {
  return derived.map((d) => {
    const text = 'param' in d.source ? values[d.source.param - 1] ?? null : d.source.text;
    if (text === null) return null;
    const pt = parsePoint(text);
    if (!pt) throw new StatementError(SQLSTATE.invalidParameterValue, `clarus: the value for column ${d.column} is not a 2-D point (WKT, EWKT or hex EWKB of a POINT): the column is split by coordinates`);
    return d.part === 'srid' ? String(pt.srid ?? 0) : String(pt[d.part]);
  });
}

// ---- execution: recomposition ----

/** A point as PostGIS prints a geometry: hex EWKB, little-endian, with the SRID when it is not 0. */
export function ewkbHex(x: number, y: number, srid: number): string {
  const b = Buffer.alloc(srid !== 0 ? 25 : 21);
  b.writeUInt8(1, 0);
  b.writeUInt32LE(srid !== 0 ? 0x20000001 : 1, 1);
  let at = 5;
  if (srid !== 0) { b.writeUInt32LE(srid, 5); at = 9; }
  b.writeDoubleLE(x, at);
  b.writeDoubleLE(y, at + 8);
  return b.toString('hex').toUpperCase();
}

const TEXT_OID = 25;

interface Pick { at: number; point?: PointColumn; parts?: [number, number, number] }

/** Which fields a recomposed relation has: each point in its SRID's place, the hidden parts dropped unless `keepParts`. */
function picks(points: readonly PointColumn[], fields: readonly FieldDescription[], keepParts: boolean): Pick[] {
  const index = (name: string): number => fields.findIndex((f) => f.name === name);
  const out: Pick[] = [];
  const hidden = new Set<number>();
  for (const p of points) {
    const parts: [number, number, number] = [index(p.x), index(p.y), index(p.srid)];
    if (parts.some((i) => i < 0)) throw new StatementError(SQLSTATE.undefinedColumn, `clarus: the fragments of point column ${p.column} lack ${p.x}, ${p.y} or ${p.srid} (was the table created through the proxy?)`);
    if (!keepParts) parts.forEach((i) => hidden.add(i));
  }
  fields.forEach((f, at) => {
    const p = points.find((x) => x.srid === f.name);
    if (p) out.push({ at, point: p, parts: [index(p.x), index(p.y), index(p.srid)] });
    if (!hidden.has(at)) out.push({ at });
  });
  return out;
}

/** The fields of a relation with its point columns recomposed (text: hex EWKB). */
export function recomposeFields(points: readonly PointColumn[], fields: readonly FieldDescription[], keepParts: boolean): FieldDescription[] {
  return picks(points, fields, keepParts).map((k) => (k.point
    ? { name: k.point.column, tableOid: 0, columnAttr: 0, typeOid: TEXT_OID, typeSize: -1, typeModifier: -1, format: 0 }
    : fields[k.at] as FieldDescription));
}

/** Rows (text values) with their point columns recomposed; a point missing a part is NULL. */
export function recomposeRows(points: readonly PointColumn[], fields: readonly FieldDescription[], rows: ReadonlyArray<ReadonlyArray<string | null>>, keepParts: boolean): Array<Array<string | null>> {
  const ks = picks(points, fields, keepParts);
  return rows.map((row) => ks.map((k) => {
    if (!k.parts) return row[k.at] ?? null;
    const [x, y, srid] = k.parts.map((i) => row[i] ?? null);
    return x === null || y === null || srid === null ? null : ewkbHex(Number(x), Number(y), Number(srid));
  }));
}
