// The two-stage plan of a SELECT the rules refused for computing on encrypted values (issue 10):
// the backend stage goes through the rules like any statement (so it sends only ciphertext and
// blind indexes, and its outputs are decrypted per the user's view), the residual stage is SQL for
// the proxy's engine over the candidate relation. Which refusals may be answered this way is
// decided here: only computations on encrypted columns, never anonymized columns (their stored
// form is not their value), never anything the allowlist refused.
import { body } from '../ast.ts';
import type { Json } from '../ast.ts';
import type { Refusal } from '../refusals.ts';
import { deparseStatement } from '../parser.ts';
import type { OutCol } from '../scope.ts';
import { CANDIDATES, NotSplittable, splitSelect } from './split.ts';
import type { InputColumns, ProbeFrom, TwoStage } from './split.ts';
import { splitWithInEngine } from './with.ts';
import { splitAllInEngine } from './engine-only.ts';
import type { TablesOf } from './engine-only.ts';
import { computedWrite } from './write.ts';
import { rowLocal } from './row-local.ts';
import { fastPlan } from './fast-path.ts';
import type { FastPlan } from './fast-path.ts';
import type { WriteDeps, WriteSpec } from './write.ts';

/** What the executor needs for the residual stage of one statement. */
export interface ResidualSpec {
  /** One SELECT over `relation`, for the proxy's engine. */
  sql: string;
  relation: string;
  /** Candidate columns, one per backend-stage output, in order. */
  columns: string[];
  /** The client's parameter numbers the residual SQL uses, in order: its `$k` is the client's `$params[k-1]`. */
  params: number[];
  /** Parameters whose values the session must not send to the backend (NULL instead). */
  blank: number[];
  /** WHERE conjuncts evaluated by the backend / by the proxy (for explain and metrics). */
  pushed: number;
  kept: number;
  /**
   * Set for a write that computes (two-stage/write.ts): the residual rows are written back by the
   * session, one write-back statement per row, instead of being shown.
   */
  write?: WriteSpec;
  /** Row-local (row-local.ts; never for a write): the session may run it chunk by chunk, streaming. */
  stream?: true;
  /** Simple row-local projections (fast-path.ts; never for a write): computed per row without the engine where exact. */
  fast?: FastPlan;
}

/** Refusals a two-stage plan may answer instead. */
export function computable(r: Refusal): boolean {
  return r.kind === 'encryptedConstruct' || r.kind === 'insertSelect';
}

export interface TwoStageDeps {
  /** Whether the backend stage may evaluate `conjunct` over `from` (the rules accept it). */
  pushable: (from: ProbeFrom, conjunct: unknown) => boolean;
  /** Functions the engine answers differently from this backend (residual/versions.ts): never computed in the proxy. */
  differs: ReadonlySet<string>;
  /** The columns of a table the catalog knows (engine-only.ts), for the last-resort split. */
  tables?: TablesOf;
  /** The input column names of a FROM clause when the catalog knows them all (split.ts InputColumns). */
  inputs?: InputColumns;
  /** The rules' analysis of the backend stage (throws a Refusal); edits the statement in place. */
  analyze: (stmt: Json) => { outputs: OutCol[] };
  /** What a computed write needs of the catalog and the rules (two-stage/write.ts). */
  write?: WriteDeps;
}

export interface TwoStagePlan {
  backend: Json;
  outputs: OutCol[];
  residual: ResidualSpec;
}

type Attempt = { split: TwoStage; backend: Json; outputs: OutCol[] } | { refusal: unknown };

/** One way of splitting, analysed: null when it does not split, the rules' refusal of its backend stage, or the split. */
function tryAttempt(split: () => TwoStage, deps: TwoStageDeps, lock?: (backend: Json) => void): Attempt | null {
  let t;
  try {
    t = split();
  } catch (e) {
    if (e instanceof NotSplittable) return null;
    throw e;
  }
  lock?.(t.backend);
  const backend: Json = { SelectStmt: t.backend };
  try {
    return { split: t, backend, outputs: deps.analyze(backend).outputs };
  } catch (e) {
    if (e instanceof RangeError) throw e; // too deep: 54001, not a refusal of this split
    return { refusal: e };
  }
}

/**
 * The last-resort split (engine-only.ts), with the conditions the backend may evaluate on the
 * tables' arms (arm-filters.ts); without them if the rules refuse that backend stage.
 */
function wholeInEngine(attempt: (split: (x: Json) => TwoStage) => Attempt | null, deps: TwoStageDeps, tables: TablesOf): Attempt | null {
  const narrowed = (c: unknown, t: string): boolean => deps.pushable({ fromClause: [{ RangeVar: { relname: t, inh: true, relpersistence: 'p', location: -1 } }] }, c);
  const filtered = attempt((x) => splitAllInEngine(x, deps.differs, tables, narrowed));
  return filtered && !('refusal' in filtered) ? filtered : attempt((x) => splitAllInEngine(x, deps.differs, tables));
}

/** The two-stage plan of `stmt` (a fresh parse: it is edited), or null when it has none. */
export function twoStagePlan(stmt: Json, deps: TwoStageDeps): TwoStagePlan | null {
  let write;
  let s;
  try {
    write = deps.write && !body(stmt, 'SelectStmt') ? computedWrite(stmt, deps.write) : undefined;
    s = write?.select ?? body(stmt, 'SelectStmt');
  } catch (e) {
    if (e instanceof NotSplittable) return null;
    throw e;
  }
  if (!s) return null;
  const select = s;
  const attempt = (split: (x: Json) => TwoStage): Attempt | null => tryAttempt(() => split(structuredClone(select)), deps, write?.lock);
  // WITH queries stay with the backend stage when the rules accept them there; those that compute go to the engine.
  let done = attempt((x) => splitSelect(x, (w, from) => deps.pushable(from, w), deps.differs, deps.inputs));
  if ((!done || 'refusal' in done) && select.withClause) done = attempt((x) => splitWithInEngine(x, (w, from) => deps.pushable(from, w), deps.differs));
  // Last resort, for a SELECT: every table it names loaded whole, the statement computed in the engine.
  if ((!done || 'refusal' in done) && (!write || write.write.command === 'DECLARE CURSOR') && deps.tables) {
    const whole = wholeInEngine(attempt, deps, deps.tables);
    if (whole && !('refusal' in whole)) done = whole;
  }
  if (!done) return null;
  if ('refusal' in done) throw done.refusal;
  const { split, backend, outputs } = done;
  const residualSql = deparseStatement({ SelectStmt: split.residual });
  // Anonymized values are stored transformed: computing on them is not computing on the value.
  if (outputs.some((o) => o.anon)) return null;
  return { backend, outputs, residual: { sql: residualSql, relation: CANDIDATES, columns: split.columns, params: split.params, blank: split.blank, pushed: split.pushed, kept: split.kept, ...(write ? { write: write.write } : readOnly(split.residual, split.columns)) } };
}

/** What a read's residual stage may do beyond the engine's buffered call: stream, and skip the engine. */
function readOnly(residual: unknown, columns: string[]): Pick<ResidualSpec, 'stream' | 'fast'> {
  const stmt = { SelectStmt: residual };
  if (!rowLocal(stmt, CANDIDATES)) return {};
  const fast = fastPlan(stmt, CANDIDATES, columns);
  return fast ? { stream: true, fast } : { stream: true };
}
