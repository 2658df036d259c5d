// The allowlist screen: the first phase of the analysis of every statement while a policy
// protects data. A statement goes on to the rewrite rules only if every node of its parse tree is
// of a kind this file knows, every function it calls is an allowlisted built-in, it contains no
// code the proxy cannot see into, it does not change the session settings the analysis depends
// on, and no name in it can make PostgreSQL resolve a relation differently from the proxy.
// Everything else is refused with SQLSTATE 0A000 (what the proxy does not understand, it refuses).
//
// "Provably touches nothing protected" = it passes this screen AND names no protected relation:
// the only ways a statement reaches a table are the names in its tree (checked here and by the
// rules), the functions it calls (only built-ins that neither run SQL from strings nor read
// tables named in strings), and server-side code (refused: DO, functions, triggers, rules, …;
// a temporary PL/pgSQL function is screened and rewritten statement by statement instead, see
// temp-function.ts, and its call is accepted only in the text that defines it).
// The remaining assumption is documented in docs/security-model.md: the backend role cannot
// CREATE objects that would overload a built-in name (least-privilege backend setup).
import { arr, nodeBody, sval, tagOf } from './ast.ts';
import type { Json } from './ast.ts';
import type { Catalog } from './catalog.ts';
import { Refusal } from './context.ts';
import { refuse } from './refusals.ts';
import { ALLOWED_FUNCTIONS } from './functions.ts';
import { namesPointSplit, POINT_FUNCTIONS } from './split.ts';
import { referencedTables } from './refs.ts';
import { classOf, isDataModifying, PINNED_SETTINGS, settingRefusal, STATEMENT_CLASSES } from './statements.ts';
import { setConfigSearchPath } from './search-path.ts';

/** What the screen learned about one statement (beyond what the rules find). */
export interface Screened {
  /** The statement changes something (data, schema, privileges…): needs a read-write user. */
  write: boolean;
  /** Its effect reaches objects it does not name (DROP OWNED, DROP SCHEMA of a policy schema…). */
  everyDataset: boolean;
}

/** Parse-tree nodes (below statement level) the analysis understands. */
const CLAUSE_NODES = new Set([
  'Integer', 'Float', 'Boolean', 'String', 'BitString', 'List', 'A_Const', 'Alias', 'RangeVar', 'IntoClause',
  'NamedArgExpr', 'BoolExpr', 'SubLink', 'CaseExpr', 'CaseWhen', 'RowExpr', 'CoalesceExpr', 'MinMaxExpr',
  'SQLValueFunction', 'XmlExpr', 'NullTest', 'BooleanTest', 'SetToDefault', 'CurrentOfExpr', 'JoinExpr',
  'TypeName', 'ColumnRef', 'ParamRef', 'A_Expr', 'TypeCast', 'CollateClause', 'RoleSpec', 'FuncCall', 'A_Star',
  'A_Indices', 'A_Indirection', 'A_ArrayExpr', 'ResTarget', 'MultiAssignRef', 'SortBy', 'WindowDef',
  'RangeSubselect', 'RangeFunction', 'RangeTableSample', 'ColumnDef', 'TableLikeClause', 'IndexElem', 'DefElem',
  'LockingClause', 'XmlSerialize', 'PartitionElem', 'PartitionSpec', 'PartitionBoundSpec', 'PartitionRangeDatum',
  'PartitionCmd', 'GroupingSet', 'WithClause', 'InferClause', 'OnConflictClause', 'CTESearchClause',
  'CTECycleClause', 'CommonTableExpr', 'ReturningClause', 'ReturningOption', 'Constraint', 'AlterTableCmd',
  'ATAlterConstraint', 'ReplicaIdentityStmt', 'ObjectWithArgs', 'AccessPriv', 'VacuumRelation', 'StatsElem',
  'FunctionParameter', 'PublicationTable', 'PublicationObjSpec', 'MergeWhenClause', 'TriggerTransition',
]);

/**
 * Allowed functions that change stored state (a sequence's position; PostgreSQL refuses them in a
 * read-only transaction): a statement calling one needs a read-write user, as a write does.
 * NOTIFY and pg_notify, which PostgreSQL allows in a read-only transaction, stay reads.
 */
const WRITING_FUNCTIONS = new Set(['nextval', 'setval']);

/** `schema.name` when a qualified name reuses a protected table's name in another schema. */
function shadowedName(catalog: Catalog, schema: string | undefined, name: string): string | null {
  const hits = catalog.all().filter((t) => t.table === name);
  if (hits.length === 0) return null;
  if (schema === undefined || hits.some((t) => t.schema === schema)) return null;
  return `${schema}.${name}`;
}

class Walk {
  readonly catalog: Catalog;
  write = false;
  everyDataset = false;
  /** The statement names a point column split by coordinates: the proxy computes POINT_FUNCTIONS (split/points.ts). */
  points = false;

  constructor(catalog: Catalog) {
    this.catalog = catalog;
  }

  /** Visits every node below a statement; `top` is the statement being screened. */
  node(x: unknown, top: unknown): void {
    if (Array.isArray(x)) {
      for (const v of x) this.node(v, top);
      return;
    }
    if (!x || typeof x !== 'object') return;
    const t = tagOf(x);
    if (!t) {
      // Untagged structs (a RangeVar in `relation`, an Alias, a TypeName…): check their fields.
      if ('relname' in x) this.rangeVar(x as Json);
      for (const v of Object.values(x)) this.node(v, top);
      return;
    }
    const [tag, b] = t;
    if (STATEMENT_CLASSES[tag] !== undefined) {
      if (x !== top) this.nested(tag, b);
      for (const v of Object.values(b)) this.node(v, top);
      return;
    }
    if (!CLAUSE_NODES.has(tag)) refuse('unknownConstruct', { tag });
    this.clause(tag, b);
    for (const v of Object.values(b)) this.node(v, top);
  }

  private clause(tag: string, b: Json): void {
    if (tag === 'FuncCall') this.func(arr(b.funcname).map((n) => sval(n) ?? ''), arr(b.args));
    else if (tag === 'A_Expr') this.operator(arr(b.name).map((n) => sval(n) ?? ''));
    else if (tag === 'RangeVar') this.rangeVar(b);
    else if (tag === 'CommonTableExpr') this.cte(String(b.ctename));
    else if (tag === 'LockingClause') this.write = true;
    else if (tag === 'IntoClause') this.write = true;
  }

  private func(names: string[], args: unknown[]): void {
    const name = names[names.length - 1] ?? '';
    const schemaOk = names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog');
    if (schemaOk && name === 'set_config' && (settableByName(args[0]) || setConfigSearchPath(args) === 'pinned')) return;
    if (this.points && names.length === 1 && POINT_FUNCTIONS.has(name.toLowerCase())) return;
    if (!schemaOk || !ALLOWED_FUNCTIONS.has(name)) refuse('function', { name: names.join('.') });
    this.write ||= WRITING_FUNCTIONS.has(name);
  }

  private operator(names: string[]): void {
    if (names.length > 1 && names[0] !== 'pg_catalog') {
      refuse('operator', { name: names.join('.') });
    }
  }

  private rangeVar(rv: Json): void {
    const name = String(rv.relname);
    const schema = rv.schemaname as string | undefined;
    const shadow = shadowedName(this.catalog, schema, name);
    if (shadow) refuse('shadowingRelation', { name: shadow });
    if (rv.relpersistence === 't' && this.catalog.lookup(schema, name)) {
      refuse('shadowingTemporary', { name });
    }
  }

  private cte(name: string): void {
    if (this.catalog.isProtectedName(name)) {
      refuse('shadowingWith', { name });
    }
  }

  /** A statement inside another one (WITH, COPY (…), CREATE SCHEMA elements, EXPLAIN…). */
  private nested(tag: string, b: Json): void {
    if (isDataModifying(tag)) {
      this.write = true;
      if (referencedTables(this.catalog, b).size > 0) {
        refuse('nestedModification', { kind: tag.replace(/Stmt$/, '').toUpperCase() });
      }
      return;
    }
    if (tag === 'SelectStmt') return;
    this.statement(tag, b);
  }

  /** Statement-level classification (top-level, EXPLAIN/PREPARE targets, CREATE SCHEMA elements). */
  statement(tag: string, b: Json): void {
    const cls = classOf(tag, b, this.catalog);
    if (cls.kind === 'refuse') throw new Refusal(cls.code, cls.message);
    if (cls.kind === 'session') {
      const r = settingRefusal(b);
      if (r) refuse('setting', { why: r });
    }
    if (cls.kind === 'write') this.write = true;
    if (cls.everyDataset) this.everyDataset = true;
  }
}

/**
 * Screens one parsed statement (`{ Tag: body }`). Throws a Refusal when any part of it is not
 * understood; otherwise says whether it writes and whether it reaches every dataset.
 */
/**
 * `set_config('<name>', …)` of a setting a SET may change (not one the proxy pins: search_path,
 * client_encoding, standard_conforming_strings, role…), named by a constant: asyncpg turns `jit`
 * off around its type introspection with it.
 */
function settableByName(arg: unknown): boolean {
  const c = nodeBody(arg, 'A_Const')?.sval;
  const setting = typeof c?.sval === 'string' ? c.sval.trim().toLowerCase() : null;
  return setting !== null && /^[a-z_][a-z0-9_.]*$/.test(setting) && PINNED_SETTINGS[setting] === undefined;
}

export function screen(stmt: Json, catalog: Catalog): Screened {
  const t = tagOf(stmt);
  if (!t) return { write: false, everyDataset: false };
  const [tag, b] = t;
  const w = new Walk(catalog);
  w.points = namesPointSplit(catalog, stmt);
  if (STATEMENT_CLASSES[tag] === undefined) refuse('unknownStatement', { tag });
  w.statement(tag, b);
  // The statement EXPLAIN or PREPARE names is screened as a statement of its own.
  const target = tag === 'ExplainStmt' || tag === 'PrepareStmt' ? tagOf(b.query) : null;
  if (target) w.statement(target[0], target[1]);
  w.node(b, target ? b.query : null);
  return { write: w.write, everyDataset: w.everyDataset };
}
