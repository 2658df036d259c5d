// RETURNING on a write that computes (issue 10): the write-back statement returns the target's
// columns the client's RETURNING list reads, as plain column references (the rules decrypt them per
// the user's view, as for any RETURNING), and the proxy's engine computes the client's list over
// those rows:
//
//   client     UPDATE patient p SET pat_name = upper(pat_name) WHERE … RETURNING p.pat_id, lower(pat_name) AS l
//   write-back UPDATE patient p SET pat_name = $3 WHERE <key> RETURNING p.pat_id, p.pat_name
//   engine     SELECT pat_id, lower(pat_name) AS l FROM clarus_candidates
//
// So the returned values are the row as stored after the write (defaults, a sequence's next value,
// the backend's own SET items, triggers), or as deleted, exactly as PostgreSQL returns them.
import { arr, body, tagOf } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { CatalogTable } from '../catalog.ts';
import { deparseStatement } from '../parser.ts';
import { CANDIDATES, checkResidualNode, NotSplittable } from './split.ts';

/** The in-proxy part of a RETURNING list: `sql` over CANDIDATES, whose columns are `columns` (the write-back's RETURNING, in order). */
export interface ReturningSpec {
  sql: string;
  columns: string[];
  /** Each column's declared type (client-facing) and modifier (-1: none). */
  types: Array<{ typeOid: number; typmod: number }>;
}

function no(why: string): never {
  throw new NotSplittable(why);
}

const ref = (names: string[]): Json => ({ ColumnRef: { fields: names.map((n) => ({ String: { sval: n } })), location: -1 } });
const sval = (n: unknown): string | undefined => {
  const s = body(n, 'String');
  return s ? String(s.sval) : undefined;
};

class Returned {
  readonly used: string[] = [];
  readonly types: Array<{ typeOid: number; typmod: number }> = [];
  private readonly table: CatalogTable;
  private readonly names: ReadonlySet<string>;
  private readonly differs: ReadonlySet<string>;

  constructor(table: CatalogTable, names: ReadonlySet<string>, differs: ReadonlySet<string>) {
    this.table = table;
    this.names = names;
    this.differs = differs;
  }

  /** A column of the target, as a candidate column. */
  use(name: string): Json {
    const c = this.table.byName.get(name) ?? no(`RETURNING ${name}, not a column of ${this.table.table}`);
    // An anonymized value is stored transformed: computing on it is not computing on the value.
    if (c.protection.kind === 'anonymize') no(`RETURNING the anonymized column ${c.name}`);
    if (!this.used.includes(c.name)) {
      this.used.push(c.name);
      this.types.push({ typeOid: c.typeOid, typmod: c.typmod ?? -1 });
    }
    return ref([c.name]);
  }

  private column(b: Json): Json {
    const fields = arr(b.fields);
    const names = fields.map(sval);
    const last = names[names.length - 1];
    if (last === undefined || names.some((n) => n === undefined)) no('* or a field in a RETURNING expression');
    if (names.length === 2 && !this.names.has(names[0] as string)) no(`RETURNING ${names.join('.')}, not of the target`);
    if (names.length > 2) no(`RETURNING ${names.join('.')}`);
    return this.use(last);
  }

  /** The expression with each column reference replaced by its candidate column. */
  walk(node: unknown): unknown {
    if (Array.isArray(node)) return node.map((n) => this.walk(n));
    if (!node || typeof node !== 'object') return node;
    const t = tagOf(node);
    if (t) {
      if (t[0] === 'SubLink' || t[0] === 'ParamRef') no('a subquery or a parameter in RETURNING');
      if (t[0] === 'ColumnRef') return this.column(t[1]);
      checkResidualNode(t[0], t[1], this.differs);
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(node as Json)) out[k] = this.walk(v);
    return out;
  }

  /** `*` or `alias.*`: every column of the target, in order (null when `rt` is not one). */
  star(rt: Json): Json[] | null {
    const cr = body(rt.val, 'ColumnRef');
    const fields = arr(cr?.fields);
    if (!cr || !body(fields[fields.length - 1], 'A_Star')) return null;
    if (fields.length === 2 && !this.names.has(sval(fields[0]) ?? '')) no('RETURNING another relation\'s *');
    if (fields.length > 2) no('RETURNING schema.table.*');
    return this.table.columns.map((c) => ({ ResTarget: { name: c.name, val: this.use(c.name), location: -1 } }));
  }
}

/**
 * The RETURNING of a computed write over `table` (referred to by `alias`, its alias or name), or
 * undefined without one: the write-back's RETURNING list (`alias.col`, …) and the engine's part.
 */
export function computedReturning(clause: unknown, table: CatalogTable, alias: string, differs: ReadonlySet<string>): { list: Json; spec: ReturningSpec } | undefined {
  const rc = (body(clause, 'ReturningClause') ?? (clause as Json | undefined));
  if (!rc) return undefined;
  if (arr(rc.options).length > 0) no('RETURNING WITH (OLD/NEW)');
  const r = new Returned(table, new Set([alias]), differs);
  const targetList: Json[] = [];
  for (const item of arr(rc.exprs)) {
    const rt = body(item, 'ResTarget') as Json;
    const all = r.star(rt);
    if (all) { targetList.push(...all); continue; }
    targetList.push({ ResTarget: { ...rt, val: r.walk(rt.val) } });
  }
  // PostgreSQL's RETURNING needs one column: `RETURNING 1` returns one row per row written.
  if (r.used.length === 0) r.use((table.columns.find((c) => c.protection.kind !== 'anonymize') ?? no('a table of anonymized columns only')).name);
  const sql = deparseStatement({ SelectStmt: { targetList, fromClause: [{ RangeVar: { relname: CANDIDATES, inh: true, relpersistence: 'p', location: -1 } }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } });
  const exprs = r.used.map((c) => ({ ResTarget: { val: ref([alias, c]), location: -1 } }));
  return { list: { exprs }, spec: { sql, columns: [...r.used], types: r.types } };
}
