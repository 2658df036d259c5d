// Single-row INSERTs into a k-anonymity table inside a transaction block (issue 13): k-anonymity
// is a property of a set of records, so, as CLARUS did, the proxy holds such rows until COMMIT and
// anonymizes them there as one batch. This file is the pure part: which statements are such
// INSERTs (heldInsert), which are transaction control (transactionOf), the rows held (HeldRows:
// pending until the backend has completed the stand-in statement, then confirmed) and the
// multi-row INSERT that stores them (flushSql), which goes through the ordinary rewriter
// (rules/insert-batch.ts). What the session does with them is in held-inserts.ts.
import { arr, body, constText, unwrapCast } from '../rewrite/ast.ts';
import type { Json } from '../rewrite/ast.ts';
import type { Catalog, CatalogColumn, CatalogTable } from '../rewrite/catalog.ts';
import { parseStatements } from '../rewrite/parser.ts';
import { isKAnonymity } from '../protection/anonymization/batch.ts';

/** One value of a held row as the statement gives it: a constant's text (null: NULL) or parameter $n. */
export type HeldValue = { text: string | null } | { param: number };

/** A single-row INSERT … VALUES into a k-anonymity table, with a column list and constants or parameters. */
export interface HeldInsert {
  table: CatalogTable;
  /** The columns as listed (names as the policy or backend spells them). */
  columns: CatalogColumn[];
  values: HeldValue[];
  /** Highest parameter number used (0: none). */
  paramCount: number;
}

const INSERT_START = /^\s*insert\b/i;

function heldValue(node: unknown): HeldValue | null {
  const p = body(node, 'ParamRef');
  if (p) return { param: Number(p.number) };
  const c = constText(unwrapCast(node));
  // Bit strings keep their own syntax: not held (the ordinary path answers them).
  if (!c || c.bits) return null;
  return { text: c.isNull ? null : c.text };
}

/**
 * The statement as a held INSERT, or null when it is not one (any other shape goes the ordinary
 * way, where a one-row batch is refused): one INSERT, a column list, one VALUES row of constants
 * and parameters, no WITH, RETURNING or ON CONFLICT, into a table with k-anonymity columns.
 */
export function heldInsert(catalog: Catalog, sql: string): HeldInsert | null {
  const s = oneInsert(sql);
  const sel = body(s?.selectStmt, 'SelectStmt');
  const rows = arr(sel?.valuesLists);
  if (!s || !sel || sel.withClause || rows.length !== 1) return null;
  const target = heldTarget(catalog, s);
  const held = target && heldValues(rows[0], target.columns.length);
  if (!target || !held) return null;
  return { ...target, values: held, paramCount: Math.max(0, ...held.map((v) => ('param' in v ? v.param : 0))) };
}

/** The table and listed columns of an INSERT, when they are distinct, known and include a k-anonymity column. */
function heldTarget(catalog: Catalog, s: Json): Pick<HeldInsert, 'table' | 'columns'> | null {
  const rv = s.relation as Json;
  const table = catalog.lookup(rv.schemaname as string | undefined, String(rv.relname));
  const names = arr(s.cols).map((c) => String(body(c, 'ResTarget')?.name));
  if (!table || names.length === 0 || new Set(names).size !== names.length) return null;
  const columns = names.map((n) => table.byName.get(n) ?? { name: n, protection: { kind: 'plain' as const }, typeOid: 25 });
  return columns.some(isKAnonymity) ? { table, columns } : null;
}

/** The `count` values of a VALUES row, when each is a constant or a parameter. */
function heldValues(row: unknown, count: number): HeldValue[] | null {
  const items = arr(body(row, 'List')?.items);
  if (items.length !== count) return null;
  const values = items.map(heldValue);
  return values.some((v) => v === null) ? null : (values as HeldValue[]);
}

/** The InsertStmt of a text that is one plain INSERT (no WITH, RETURNING, ON CONFLICT, OVERRIDING), or null. */
function oneInsert(sql: string): Json | null {
  if (!INSERT_START.test(sql)) return null;
  let stmts;
  try {
    stmts = parseStatements(sql);
  } catch {
    return null;
  }
  const s = stmts.length === 1 ? body(stmts[0]?.stmt, 'InsertStmt') : null;
  return s && isPlainInsert(s) ? s : null;
}

function isPlainInsert(s: Json): boolean {
  const plain = !s.withClause && !s.returningList && !s.returningClause && !s.onConflictClause;
  return plain && (!s.override || s.override === 'OVERRIDING_NOT_SET');
}

/** Transaction control in a text, as far as held rows are concerned. */
export type TxKind = 'begin' | 'commit' | 'rollback' | 'rollbackTo' | 'prepare' | 'other';

const TX_WORD = /(^|;)\s*(begin|start|commit|end|rollback|abort|prepare|savepoint|release)\b/i;

const KINDS: Record<string, TxKind> = {
  TRANS_STMT_BEGIN: 'begin', TRANS_STMT_START: 'begin', TRANS_STMT_COMMIT: 'commit', TRANS_STMT_ROLLBACK: 'rollback',
  TRANS_STMT_ROLLBACK_TO: 'rollbackTo', TRANS_STMT_PREPARE: 'prepare',
};

/**
 * The transaction statements of a text, in order (empty when it has none). A cheap textual test
 * comes first: most statements are never parsed here.
 */
export function transactionOf(sql: string): { kinds: TxKind[]; statements: number } {
  if (!TX_WORD.test(sql)) return { kinds: [], statements: 0 };
  let stmts;
  try {
    stmts = parseStatements(sql);
  } catch {
    return { kinds: [], statements: 0 };
  }
  const kinds: TxKind[] = [];
  for (const { stmt } of stmts) {
    const t = body(stmt, 'TransactionStmt');
    if (!t) continue;
    const kind = KINDS[String(t.kind)] ?? 'other';
    kinds.push(kind);
    // COMMIT / ROLLBACK AND CHAIN opens the next block at once.
    if (t.chain && (kind === 'commit' || kind === 'rollback')) kinds.push('begin');
  }
  return { kinds, statements: stmts.length };
}

/** Rows held for one table and column list: one batch at COMMIT. */
export interface HeldGroup {
  table: CatalogTable;
  columns: string[];
  rows: Array<Array<string | null>>;
}

interface HeldRow { group: HeldGroup; values: Array<string | null>; bytes: number }

/** Identifier quoted as PostgreSQL's quote_ident would always do. */
function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A constant (standard_conforming_strings is pinned on by the proxy: only quotes are doubled). */
function literal(v: string | null): string {
  return v === null ? 'NULL' : `'${v.replace(/'/g, "''")}'`;
}

/** The multi-row INSERT that stores a group (the ordinary rewriter anonymizes and encrypts it). */
export function flushSql(g: HeldGroup): string {
  const rows = g.rows.map((r) => `(${r.map(literal).join(', ')})`).join(',\n');
  return `INSERT INTO ${ident(g.table.schema)}.${ident(g.table.table)} (${g.columns.map(ident).join(', ')}) VALUES\n${rows}`;
}

/** What one held row adds to the flush text (its literals, separators and quotes, roughly). */
function rowBytes(values: ReadonlyArray<string | null>): number {
  return values.reduce((n, v) => n + (v === null ? 4 : Buffer.byteLength(v) * 2 + 2) + 2, 4);
}

/**
 * The rows held in one transaction block. A row is pending from the statement's decision until
 * the backend completed its stand-in statement (confirm), or dropped when it failed or was
 * skipped (drop); only confirmed rows are stored at COMMIT. Pending rows are answered in the
 * order the statements were sent (per statement: `key`).
 */
export class HeldRows {
  private readonly groups = new Map<string, HeldGroup>();
  private readonly pending = new Map<object, HeldRow[]>();
  /** Answers still owed for rows forgotten by clear() (a ROLLBACK decided before they came): skipped. */
  private readonly orphans = new Map<object, number>();
  private confirmed = 0;
  private bytes = 0;
  private readonly maxBytes: number;
  private wake: (() => void) | null = null;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Rows held, pending or confirmed. */
  get size(): number {
    let n = this.confirmed;
    for (const p of this.pending.values()) n += p.length;
    return n;
  }

  get pendingCount(): number {
    return this.size - this.confirmed;
  }

  /** The datasets rows are held for. */
  datasets(): Set<string> {
    const out = new Set<string>();
    for (const g of this.groups.values()) out.add(g.table.dataset);
    return out;
  }

  /**
   * Holds a row as pending under `key` (the statement it came from); false when the flush text
   * would grow past the bound (the row is not held).
   */
  add(key: object, h: HeldInsert, values: Array<string | null>): boolean {
    const bytes = rowBytes(values);
    if (this.bytes + bytes > this.maxBytes) return false;
    const columns = h.columns.map((c) => c.name);
    const gk = `${h.table.schema}.${h.table.table}(${columns.join(',')})`;
    let group = this.groups.get(gk);
    if (!group) this.groups.set(gk, (group = { table: h.table, columns, rows: [] }));
    const list = this.pending.get(key) ?? [];
    list.push({ group, values, bytes });
    this.pending.set(key, list);
    this.bytes += bytes;
    return true;
  }

  /** The backend completed the oldest pending statement of `key`: its row will be stored. */
  confirm(key: object): void {
    const r = this.shift(key);
    if (!r) return;
    r.group.rows.push(r.values);
    this.confirmed++;
    this.settle();
  }

  /** The backend failed or skipped the oldest pending statement of `key`: its row is dropped. */
  drop(key: object): void {
    const r = this.shift(key);
    if (r) this.bytes -= r.bytes;
    this.settle();
  }

  /** Resolves once no row is pending (every stand-in statement sent so far has been answered). */
  settled(): Promise<void> | undefined {
    if (this.pendingCount === 0) return undefined;
    return new Promise((resolve) => { this.wake = resolve; });
  }

  /** The confirmed rows, by group, and forgets everything. */
  take(): HeldGroup[] {
    const out = [...this.groups.values()].filter((g) => g.rows.length > 0);
    this.clear();
    return out;
  }

  clear(): void {
    for (const [key, list] of this.pending) this.orphans.set(key, (this.orphans.get(key) ?? 0) + list.length);
    this.groups.clear();
    this.pending.clear();
    this.confirmed = 0;
    this.bytes = 0;
    this.settle();
  }

  private shift(key: object): HeldRow | undefined {
    const orphans = this.orphans.get(key) ?? 0;
    if (orphans > 0) {
      if (orphans === 1) this.orphans.delete(key); else this.orphans.set(key, orphans - 1);
      return undefined;
    }
    const list = this.pending.get(key);
    const r = list?.shift();
    if (list && list.length === 0) this.pending.delete(key);
    return r;
  }

  private settle(): void {
    if (this.pendingCount > 0 || !this.wake) return;
    const w = this.wake;
    this.wake = null;
    w();
  }
}
