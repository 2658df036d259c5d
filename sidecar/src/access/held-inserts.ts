// The session side of held rows (held-rows.ts): single-row INSERTs into a k-anonymity table inside
// a transaction block are held by the proxy and stored, anonymized as one batch, at COMMIT.
//
// - The INSERT is answered `INSERT 0 1`. The backend gets a stand-in that carries no value:
//   `LOCK TABLE ONLY t IN ROW EXCLUSIVE MODE` (the lock an INSERT takes; it checks the privilege,
//   fails with 25P02 in an aborted block and with 25P01 outside a block, so a row is only ever held
//   in a block the backend has open). Its parameters are sent as NULL. The row counts once the
//   backend completed the stand-in; a stand-in that fails or is skipped drops its row.
// - COMMIT (a simple Query of that one statement, or a prepared COMMIT at each Execute) waits until
//   every stand-in sent before it is answered; then the session runs `INSERT … VALUES <held rows,
//   anonymized as one batch>` before it (BeforeCommit in session/pipeline.ts): the INSERT goes
//   through the ordinary rules (rules/insert-batch.ts), its answer is replaced by a NOTICE with the
//   batch's report. If it fails, or the microaggregation refuses the batch (fewer than k rows:
//   21000), the COMMIT fails with that error and the transaction ends rolled back (ReadyForQuery
//   'I'), nothing stored, as PostgreSQL ends a transaction whose COMMIT failed. ROLLBACK forgets
//   the rows.
// - While rows are held, a statement that reads or writes their dataset is refused (it would not
//   see them), and so are ROLLBACK TO SAVEPOINT, PREPARE TRANSACTION, and a COMMIT sent with other
//   statements in one Query.
// - Outside a block (as far as the statements decided so far say) the INSERT is not held: a
//   batch of one row is refused (21000), as before.
import { formatAt, StatementError } from '../session/pipeline.ts';
import type { AccessCheck, BeforeCommit, BeforeCommitHook, Pass, QueryDecision, Refuse, ResultTransformer, RewriteStatement, StatementDecision, WireValue } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { binaryToText, OID } from '../protection/encryption/canonical.ts';
import type { Catalog } from '../rewrite/catalog.ts';
import { flushSql, heldInsert, HeldRows, transactionOf } from './held-rows.ts';
import type { HeldGroup, HeldInsert, TxKind } from './held-rows.ts';
import { anonymizationStats } from './anonymization-stats.ts';

export interface HeldDeps {
  catalog(): Catalog;
  /**
   * The access decision and audit line of this statement as a write to `dataset`: a Refuse, or
   * undefined. `again`: a prepared statement's check at Bind/Execute (only a refusal is audited).
   */
  mayWrite(sql: string, dataset: string, again?: boolean): Refuse | undefined;
  /** The ordinary decision of a text (the flush INSERT goes through the rewriter like any other). */
  plan(sql: string): QueryDecision;
  /** Bound of the held rows, as bytes of the flush INSERT's text (within the rewriter's statement limit). */
  maxBytes: number;
}

function refuse(code: string, message: string): Refuse {
  return { kind: 'refuse', code, message };
}

const INSERT_ONE = 'INSERT 0 1';

function standIn(h: HeldInsert): string {
  const q = (s: string): string => `"${s.replace(/"/g, '""')}"`;
  return `LOCK TABLE ONLY ${q(h.table.schema)}.${q(h.table.table)} IN ROW EXCLUSIVE MODE`;
}

function outsideBlock(h: HeldInsert): string {
  return `clarus: ${h.table.table} is k-anonymous: an INSERT of one row is a batch of 1 record, fewer than k; INSERTs of single rows are held and anonymized together at COMMIT only inside a transaction block (BEGIN … COMMIT); nothing was stored`;
}

/** The text of a parameter as bound (binary values read as the declared or the column's type). */
function paramText(v: WireValue, binary: boolean, oid: number): string | null {
  if (v === null) return null;
  const b = Buffer.from(v.buffer, v.byteOffset, v.length);
  return binary ? binaryToText(oid, b) : b.toString('utf8');
}

export class HeldInserts {
  private readonly deps: HeldDeps;
  private readonly rows: HeldRows;
  /** A transaction block is open, as far as the statements decided so far say. */
  private open = false;
  /** The backend's transaction status at its last ReadyForQuery. */
  private status: 'I' | 'T' | 'E' = 'I';

  constructor(deps: HeldDeps) {
    this.deps = deps;
    this.rows = new HeldRows(deps.maxBytes);
  }

  /** The backend's ReadyForQuery status (Pipeline.ready). */
  ready(status: 'I' | 'T' | 'E'): void {
    this.status = status;
  }

  /** Rows are held: the session must keep this pipeline (see Pipeline.holding). */
  holding(): boolean {
    return this.rows.size > 0;
  }

  /** A simple Query: the held INSERT or the COMMIT that stores the rows; undefined = the ordinary way. */
  query(sql: string): QueryDecision | Promise<QueryDecision> | undefined {
    const tx = transactionOf(sql);
    if (tx.kinds.length > 0) return this.control(sql, tx.kinds, tx.statements);
    if (!this.open) return undefined;
    const h = heldInsert(this.deps.catalog(), sql);
    if (!h || h.paramCount > 0) return undefined;
    const denied = this.deps.mayWrite(sql, h.table.dataset);
    if (denied) return denied;
    const key = {};
    if (!this.rows.add(key, h, h.values.map((v) => ('text' in v ? v.text : null)))) return this.tooMany();
    return { kind: 'rewrite', sql: standIn(h), results: [this.answer(key)] };
  }

  /** A Parse: a held INSERT (held at each Bind inside a block, refused at a Bind outside one); undefined = the ordinary way. */
  parse(sql: string, paramTypes: readonly number[]): StatementDecision | undefined {
    const h = heldInsert(this.deps.catalog(), sql);
    if (!h) return undefined;
    const denied = this.deps.mayWrite(sql, h.table.dataset);
    if (denied) return denied;
    const key = {};
    const count = Math.max(paramTypes.length, h.paramCount);
    const columnType = (n: number): number => {
      const i = h.values.findIndex((v) => 'param' in v && v.param === n);
      return i < 0 ? OID.text : (h.columns[i]?.typeOid ?? OID.text);
    };
    const declared = Array.from({ length: count }, (_, i) => paramTypes[i] || columnType(i + 1));
    return {
      kind: 'rewrite', sql: standIn(h), shape: 'held',
      paramTypes: declared, clientParamTypes: declared,
      params: (values, formats) => this.bind({ key, h, declared }, values, formats),
      result: this.answer(key),
      check: () => this.deps.mayWrite(sql, h.table.dataset, true),
    };
  }

  /**
   * Wraps the ordinary decision of a Parse: transaction control takes effect at each Bind/Execute
   * (a prepared COMMIT stores the held rows first: `beforeCommit`), and a statement on a dataset
   * with held rows is refused there too.
   */
  guard(sql: string, datasets: ReadonlySet<string>, d: StatementDecision): StatementDecision {
    if (d.kind === 'refuse') return d;
    const tx = transactionOf(sql);
    if (tx.kinds.length === 0 && datasets.size === 0) return d;
    const inner = d.check;
    const check: AccessCheck = () => {
      const busy = this.touching(datasets);
      if (busy) return busy;
      if (tx.kinds.length > 0) {
        if (this.rows.size > 0 && tx.kinds.some((k) => k === 'rollbackTo' || k === 'prepare')) {
          return refuse(SQLSTATE.featureNotSupported, 'clarus: rows are held for k-anonymity until COMMIT in this transaction: ROLLBACK TO SAVEPOINT and PREPARE TRANSACTION are not supported while rows are held');
        }
        this.effects(tx.kinds);
      }
      return inner?.();
    };
    const commit = tx.statements === 1 && tx.kinds[0] === 'commit' ? { beforeCommit: this.beforeCommit } : {};
    return d.kind === 'pass' ? ({ kind: 'pass', check, ...commit } satisfies Pass) : ({ ...d, check, ...commit } satisfies RewriteStatement);
  }

  /** At each Execute of a prepared COMMIT: the held rows' flush, once every stand-in is answered. */
  private readonly beforeCommit: BeforeCommitHook = () => {
    if (this.rows.size === 0) return undefined;
    const wait = this.rows.settled();
    return wait ? wait.then(() => this.flush()) : this.flush();
  };

  /** The refusal of a statement on a dataset with held rows (it would not see them), if any. */
  touching(datasets: Iterable<string>): Refuse | undefined {
    if (this.rows.size === 0) return undefined;
    const held = this.rows.datasets();
    for (const d of datasets) {
      if (held.has(d)) {
        return refuse(SQLSTATE.featureNotSupported, `clarus: rows INSERTed into dataset ${d} in this transaction are held by the proxy until COMMIT (k-anonymity is applied to them together); a statement on that dataset before COMMIT would not see them and is refused`);
      }
    }
    return undefined;
  }

  private control(sql: string, kinds: TxKind[], statements: number): QueryDecision | Promise<QueryDecision> | undefined {
    const ends = kinds.some((k) => k === 'commit' || k === 'rollbackTo' || k === 'prepare');
    if (this.rows.size > 0 && ends) {
      if (statements !== 1 || kinds[0] !== 'commit') {
        return refuse(SQLSTATE.featureNotSupported, 'clarus: rows are held for k-anonymity until COMMIT in this transaction: send COMMIT as a statement of its own (ROLLBACK TO SAVEPOINT and PREPARE TRANSACTION are not supported while rows are held)');
      }
      this.effects(kinds);
      const wait = this.rows.settled();
      return wait ? wait.then(() => this.commit(sql)) : this.commit(sql);
    }
    this.effects(kinds);
    return undefined;
  }

  /** What transaction statements do to the block and the rows. */
  private effects(kinds: TxKind[]): void {
    for (const k of kinds) {
      if (k === 'begin') this.open = true;
      else if (k === 'commit' || k === 'rollback' || k === 'prepare') this.open = false;
      if (k === 'rollback') this.rows.clear();
    }
  }

  /** A simple COMMIT with held rows, all answered: the COMMIT's own decision, the flush INSERTs before it. */
  private commit(sql: string): QueryDecision {
    const before = this.flush();
    // The COMMIT's own decision (a split session finishes its fragment transactions through it).
    const c = this.deps.plan(sql);
    if (!before || c.kind === 'refuse') return c;
    return c.kind === 'rewrite' ? { ...c, before } : { kind: 'rewrite', sql, before };
  }

  /**
   * What stores the held rows before the COMMIT (undefined: nothing to store), and forgets them.
   * Every stand-in is answered: an 'E' now means the block is aborted (ROLLBACK TO is refused while
   * rows are held), so the COMMIT is a ROLLBACK, as PostgreSQL answers it; nothing to store.
   */
  private flush(): BeforeCommit | undefined {
    const groups = this.rows.take();
    if (groups.length === 0 || this.status === 'E') return undefined;
    const statements: BeforeCommit['statements'] = [];
    for (const g of groups) {
      const text = flushSql(g);
      const d = this.deps.plan(text);
      if (d.kind === 'refuse') return { statements: [], refusal: refusedBatch(d, g) };
      statements.push({ sql: d.kind === 'rewrite' ? d.sql : text, result: hideTag(d.kind === 'rewrite' ? d.results?.[0] : undefined) });
    }
    return { statements };
  }

  private bind({ key, h, declared }: { key: object; h: HeldInsert; declared: readonly number[] }, values: WireValue[], formats: readonly number[]): WireValue[] {
    if (!this.open) throw new StatementError(SQLSTATE.cardinalityViolation, outsideBlock(h));
    let row: Array<string | null>;
    try {
      row = h.values.map((v) => ('text' in v ? v.text : paramText(values[v.param - 1] ?? null, formatAt(formats, v.param - 1) === 1, declared[v.param - 1] ?? OID.text)));
    } catch (e) {
      throw new StatementError(SQLSTATE.invalidBinaryRepresentation, `clarus: ${(e as Error).message}`);
    }
    if (!this.rows.add(key, h, row)) throw this.tooManyError();
    // The values stay in the proxy: the stand-in gets NULLs.
    return values.map(() => null);
  }

  /** The answer to a held INSERT's stand-in: `INSERT 0 1` once the backend completed it. */
  private answer(key: object): ResultTransformer {
    return {
      fields: (f) => [...f],
      row: (v) => v,
      complete: () => {
        this.rows.confirm(key);
        return [{ type: 'CommandComplete', tag: INSERT_ONE }];
      },
      failed: () => this.rows.drop(key),
    };
  }

  private tooManyError(): StatementError {
    return new StatementError(SQLSTATE.programLimitExceeded, `clarus: the rows held for k-anonymity until COMMIT in one transaction are limited to ${this.deps.maxBytes} bytes of values; COMMIT, or load the data with COPY or multi-row INSERTs`);
  }

  private tooMany(): Refuse {
    const e = this.tooManyError();
    return refuse(e.code, e.message);
  }
}

/** The refusal of a held batch (fewer than k rows, an unreadable quasi-identifier), said as the COMMIT's. */
function refusedBatch(d: Refuse, g: HeldGroup): Refuse {
  anonymizationStats.refused++;
  return { ...d, message: `${d.message} (the ${g.rows.length} rows INSERTed one at a time into ${g.table.table} in this transaction are one batch at COMMIT; the transaction is rolled back)` };
}

/** The flush INSERT's answer: its NOTICE (the batch report) without its CommandComplete. */
function hideTag(tr: ResultTransformer | undefined): ResultTransformer {
  return {
    fields: tr ? (f) => tr.fields(f) : (f) => [...f],
    row: tr ? (v, f) => tr.row(v, f) : (v) => v,
    complete: (tag) => (tr?.complete?.(tag) ?? []).filter((m) => m.type !== 'CommandComplete'),
    ...(tr?.failed ? { failed: tr.failed } : {}),
  };
}
