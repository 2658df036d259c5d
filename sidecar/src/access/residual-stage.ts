// The in-proxy stage of two-stage statements (issue 10), as the session sees it (ResidualStage in
// session/pipeline.ts): the candidate rows of the backend stage, already decrypted and shown per
// the user's view, are loaded into the residual engine (PostgreSQL in WebAssembly, residual/) with
// the types the client sees, and the stage's SQL runs there. Engine failures become the statement's
// error (StatementError): PostgreSQL's own SQLSTATE and message for a failing expression, 54000 for
// a limit, 0A000 for what the engine does not load.
import type { ResidualSpec } from '../rewrite/two-stage/plan.ts';
import type { FieldDescription, ResidualStage, SessionSettings, StageResult, WireValue, WriteBack } from '../session/pipeline.ts';
import { StatementError } from '../session/pipeline.ts';
import { formatAt } from '../protocol/types.ts';
import type { FormatCode } from '../protocol/types.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { textToBinary, ValueFormatError } from '../protection/encryption/canonical.ts';
import { ResidualLimitError, ResidualQueryError, ResidualUnsupportedError } from '../residual/errors.ts';
import type { ResidualCall, ResidualField, ResidualResult, ResidualSettings } from '../residual/types.ts';
import type { ResidualStats } from '../residual/stats.ts';
import { compileFast, FALLBACK, runFast } from '../residual/fast-eval.ts';
import type { FastProgram } from '../residual/fast-eval.ts';
import type { FastPlan } from '../rewrite/two-stage/fast-path.ts';

/** The engine (a pool of them) and the per-statement bounds, from the proxy's configuration. */
export interface ResidualService {
  /** One call; `idleSeconds`: the engine is stopped after that long without a call (0: never; the process's setting when absent). */
  run(call: ResidualCall, idleSeconds?: number): Promise<ResidualResult>;
  maxRows: number;
  maxBytes: number;
  /** Counters for metrics (residual/stats.ts). */
  stats: ResidualStats;
  /**
   * Resolves once the backend's text order and case mapping are known to be reproduced (rejects
   * with ResidualUnsupportedError otherwise), without starting the engine; and whether that is
   * known already. Without them the fast path is not taken: what it computes must be refused
   * exactly where the engine's answer would be.
   */
  textSemantics?(): Promise<void>;
  textSemanticsKnown?(): boolean;
}

/**
 * Candidate rows (and bytes) per engine call of a row-local stage: large enough that the engine's
 * per-call cost (a transaction, COPY, the query, a rollback) is spread thin, small enough that the
 * first rows come quickly and memory stays small.
 */
export const STREAM_ROWS = 10_000;
export const STREAM_BYTES = 4 << 20;

/** pg_type.typlen of the common result types (RowDescription's type size); -1 for the others. */
const TYPE_SIZES: ReadonlyMap<number, number> = new Map([[16, 1], [18, 1], [19, 64], [20, 8], [21, 2], [23, 4], [26, 4], [700, 4], [701, 8],
  [1082, 4], [1083, 8], [1114, 8], [1184, 8], [1186, 16], [1266, 12], [2950, 16], [829, 6]]);

/** The session settings the engine applies (time zone, date and interval styles). */
export function residualSettings(s: SessionSettings): ResidualSettings {
  const out: ResidualSettings = {};
  const tz = s.get('TimeZone');
  const ds = s.get('DateStyle');
  const is = s.get('IntervalStyle');
  if (tz !== undefined) out.timeZone = tz;
  if (ds !== undefined) out.dateStyle = ds;
  if (is !== undefined) out.intervalStyle = is;
  return out;
}

function fieldsOf(fields: readonly ResidualField[], formats: readonly number[]): FieldDescription[] {
  return fields.map((f, i) => ({ name: f.name, tableOid: 0, columnAttr: 0, typeOid: f.typeOid, typeSize: TYPE_SIZES.get(f.typeOid) ?? -1,
    typeModifier: f.typmod, format: formatAt(formats, i) as FormatCode }));
}

/** A row of text values in the client's formats (binary through the type's binary form). */
export function encode(fields: ReadonlyArray<Pick<ResidualField, 'typeOid'>>, row: ReadonlyArray<string | null>, formats: readonly number[]): WireValue[] {
  return row.map((v, i) => {
    if (v === null) return null;
    if (formatAt(formats, i) === 0) return Buffer.from(v, 'utf8');
    try {
      return textToBinary(fields[i]?.typeOid ?? 25, v);
    } catch (e) {
      if (e instanceof ValueFormatError) throw new StatementError(SQLSTATE.featureNotSupported, `clarus: binary format for a result computed in the proxy: ${e.message}`);
      throw e;
    }
  });
}

/** A wait whose failure is the statement's error. */
async function checked(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (e) {
    throw statementError(e);
  }
}

/** An engine failure → the statement's error. */
function statementError(e: unknown): StatementError {
  if (e instanceof StatementError) return e;
  if (e instanceof ResidualQueryError) return new StatementError(e.code, e.fields.M ?? e.message, e.fields.D);
  if (e instanceof ResidualLimitError) return new StatementError(e.code, `clarus: ${e.message}`);
  if (e instanceof ResidualUnsupportedError) return new StatementError(e.code, `clarus: computing in the proxy: ${e.message}`);
  throw e;
}

/**
 * One engine call outside a two-stage plan (split tables): the client's fields and rows in the
 * requested formats, engine failures as the statement's error. `counted`: false for the later
 * calls of one statement run batch by batch.
 */
export async function runEngine(service: ResidualService, c: ResidualCall, formats: readonly number[], counted = true): Promise<{ fields: FieldDescription[]; rows: WireValue[][] }> {
  const t0 = performance.now();
  if (counted) service.stats.statements += 1;
  service.stats.candidateRows += c.relations.reduce((n, r) => n + [...r.rows].length, 0);
  try {
    const r = await service.run(c);
    service.stats.resultRows += r.rows.length;
    return { fields: fieldsOf(r.fields, formats), rows: r.rows.map((row) => encode(r.fields, row, formats)) };
  } catch (e) {
    service.stats.failed += 1;
    throw statementError(e);
  } finally {
    service.stats.engineMs += performance.now() - t0;
  }
}

/** The ResidualStage of one statement's plan. */
export function residualStage(service: ResidualService, spec: ResidualSpec, write?: WriteBack): ResidualStage {
  const call = (candidates: readonly FieldDescription[], rows: Array<Array<string | null>>, settings: SessionSettings, params: ReadonlyArray<string | null>): ResidualCall => ({
    relations: [{ name: spec.relation, columns: candidates.map((f, i) => ({ name: spec.columns[i] ?? `c${i + 1}`, typeOid: f.typeOid })), rows }],
    sql: spec.sql,
    limits: { maxRows: service.maxRows, maxBytes: service.maxBytes },
    settings: residualSettings(settings),
    // The stage's $k is the client's parameter spec.params[k - 1].
    params: spec.params.map((n) => params[n - 1] ?? null),
  });
  const timed = async (c: ResidualCall): Promise<ResidualResult> => {
    const t0 = performance.now();
    try {
      return await service.run(c);
    } catch (e) {
      service.stats.failed += 1;
      throw statementError(e);
    } finally {
      service.stats.engineMs += performance.now() - t0;
    }
  };
  const fast = spec.fast && !write ? spec.fast : undefined;
  const chunk = async (candidates: readonly FieldDescription[], rows: Array<Array<string | null>>, formats: readonly number[], settings: SessionSettings,
    params: ReadonlyArray<string | null>): Promise<StageResult> => {
    if (fast && service.textSemantics) {
      await checked(service.textSemantics());
      const quick = fastNow(service, fast).run(candidates, rows, formats, false);
      if (quick) return quick;
    }
    service.stats.candidateRows += rows.length;
    const r = await timed(call(candidates, rows, settings, params));
    service.stats.resultRows += r.rows.length;
    return { fields: fieldsOf(r.fields, formats), rows: r.rows.map((row) => encode(r.fields, row, formats)) };
  };
  // A row-local stage (never a write) runs chunk by chunk; a chunk stays well within the limits.
  const stream = spec.stream && !write ? { stream: { rows: Math.min(STREAM_ROWS, service.maxRows), bytes: Math.min(STREAM_BYTES, service.maxBytes), next: chunk } } : {};
  return {
    maxRows: service.maxRows,
    maxBytes: service.maxBytes,
    blank: spec.blank,
    ...(fast ? { now: fastNow(service, fast) } : {}),
    ...(write ? { write } : {}),
    ...stream,
    async describe(candidates, formats, settings) {
      if (fast && service.textSemantics) {
        await checked(service.textSemantics());
        const quick = fastNow(service, fast).describe(candidates, formats);
        if (quick) return quick;
      }
      const r = await timed(call(candidates, [], settings, []));
      return fieldsOf(r.fields, formats);
    },
    run(candidates, rows, formats, settings, params) {
      service.stats.statements += 1;
      return chunk(candidates, rows, formats, settings, params);
    },
  };
}

/**
 * The fast path of a stage (rewrite/two-stage/fast-path.ts), as ResidualStage.now: the fields and
 * rows computed without the engine, or null (the engine answers) when the plan's semantics are not
 * known exactly for the candidate types or a value is not certain (then the whole batch goes).
 */
function fastNow(service: ResidualService, plan: FastPlan): NonNullable<ResidualStage['now']> {
  const stats = service.stats;
  const typed = typedProgram(plan);
  // Only once the backend's text semantics are known to be the ones computed here.
  const program = (candidates: readonly FieldDescription[]) => (service.textSemanticsKnown?.() ? typed(candidates) : null);
  return {
    describe(candidates, formats) {
      const p = program(candidates);
      return p ? p.described(formats) : null;
    },
    run(candidates, rows, formats, first) {
      const p = program(candidates);
      const values = p ? runFast(p.program, rows) : FALLBACK;
      if (!p || values === FALLBACK) return null;
      if (first) stats.statements += 1;
      stats.candidateRows += rows.length;
      stats.fastRows += rows.length;
      stats.resultRows += values.length;
      const fields = p.program.fields;
      return { fields: p.described(formats), rows: values.map((row) => encode(fields, row, formats)) };
    },
  };
}

/** A fast program and its client fields per result formats (the same few formats, statement after statement). */
interface Typed { program: FastProgram; described(formats: readonly number[]): FieldDescription[] }

/**
 * The fast plan typed for candidate fields, kept for the last candidate types seen (a prepared
 * statement's are the same on every execution): compiled and described once, not per message.
 */
function typedProgram(plan: FastPlan): (candidates: readonly FieldDescription[]) => Typed | null {
  let key: string | undefined;
  let last: Typed | null = null;
  return (candidates) => {
    const k = candidates.map((f) => f.typeOid).join(',');
    if (k === key) return last;
    const program = compileFast(plan, candidates.map((f) => f.typeOid));
    const byFormats = new Map<string, FieldDescription[]>();
    last = program && {
      program,
      described(formats) {
        const fk = formats.join(',');
        let out = byFormats.get(fk);
        if (!out) {
          out = fieldsOf(program.fields, formats);
          // Bounded: a client cycling through result formats recomputes instead of growing this.
          if (byFormats.size >= 8) byFormats.clear();
          byFormats.set(fk, out);
        }
        return out;
      },
    };
    key = k;
    return last;
  };
}
