// The write-back statement of a write that computes (issue 10, rewrite/two-stage/write.ts): the
// per-row statement goes through the rules like any write, so every value the proxy computed is
// protected for the column it goes into (encrypted with that column's key and mode, with its blind
// index) by the same parameter transformer an application's own `UPDATE … SET col = $1` gets.
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import type { WriteSpec } from '../rewrite/two-stage/write.ts';
import type { ReturningSpec } from '../rewrite/two-stage/returning.ts';
import { paramTransformer, paramTypeFor } from '../protection/params.ts';
import type { ComputedReturning, HeldCursor, Refuse, WriteBack } from '../session/pipeline.ts';
import type { ResultDirective } from '../rewrite/result-directives.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { batchedWriteBack } from '../rewrite/two-stage/write-batch.ts';

const BYTEA = 17;

/** The SQL type of each parameter of the rewritten write-back: protected values are bytea, the rest as written; null if one is neither. */
function batchTypes(spec: WriteSpec, paramTypes: readonly number[], roles: ReadonlyMap<number, unknown>): string[] | null {
  const out: string[] = [];
  for (let i = 0; i < paramTypes.length; i++) {
    const t = roles.has(i + 1) ? (paramTypes[i] === BYTEA ? 'bytea' : undefined) : spec.types[i];
    if (t === undefined) return null;
    out.push(t);
  }
  return out;
}

/** The session's part of a RETURNING, from the rewritten write-back's outputs (access/returning-stage.ts). */
export type ReturningOf = (spec: ReturningSpec, outputs: readonly ResultDirective[]) => ComputedReturning | Refuse;

/** The WriteBack of `spec`, or the rules' refusal of its write-back statement. */
export function writeBack(rw: KeyedRewriter, spec: WriteSpec, cursor?: HeldCursor, returningOf?: ReturningOf): WriteBack | Refuse {
  if (spec.command === 'DECLARE CURSOR') return { command: spec.command, sql: spec.sql, paramTypes: [], ...heldBy(cursor) };
  const a = rw.analyze(spec.sql);
  if (a.kind === 'refuse') return { kind: 'refuse', code: a.code, message: a.message };
  const s = a.kind === 'plan' ? a.statements[0] : undefined;
  const returning = returningFor(spec, s?.results, returningOf);
  if (returning && 'kind' in returning) return returning;
  const ret = returning ? { returning } : {};
  if (a.kind === 'pass') return { ...passedWriteBack(spec), ...ret, ...oneBatch(spec) };
  return rewrittenWriteBack(rw, spec, a, ret);
}

/** The session's part of the write's RETURNING (none without one; a refusal when no stage computes it). */
function returningFor(spec: WriteSpec, outputs: readonly ResultDirective[] | undefined, returningOf: ReturningOf | undefined): ComputedReturning | Refuse | undefined {
  if (!spec.returning) return undefined;
  return returningOf?.(spec.returning, outputs ?? []) ?? { kind: 'refuse', code: SQLSTATE.internalError, message: 'clarus: RETURNING of a computed write without its stage' };
}

/** An INSERT … ON CONFLICT DO UPDATE is written back in one batch (WriteSpec.oneBatch). */
function oneBatch(spec: WriteSpec): Pick<WriteBack, 'oneBatch'> {
  return spec.oneBatch ? { oneBatch: true } : {};
}

/** A computed cursor's rows are held by the proxy (a DECLARE computed in two stages). */
function heldBy(cursor: HeldCursor | undefined): { cursor?: HeldCursor } {
  return cursor ? { cursor } : {};
}

/** A write-back the rules pass as it is (it writes nothing protected). */
function passedWriteBack(spec: WriteSpec): WriteBack {
  const batch = batchedWriteBack(spec.sql, spec.types);
  return { command: spec.command, sql: spec.sql, paramTypes: [], ...(batch ? { batch } : {}) };
}

type Plan = Extract<ReturnType<KeyedRewriter['analyze']>, { kind: 'plan' }>;

/** A write-back the rules rewrote (one statement): its parameters protected per column at Bind. */
function rewrittenWriteBack(rw: KeyedRewriter, spec: WriteSpec, a: Plan, ret: Pick<WriteBack, 'returning'>): WriteBack | Refuse {
  const sql = a.statements[0]?.sql;
  if (sql === undefined || a.statements.length !== 1) return { kind: 'refuse', code: SQLSTATE.internalError, message: 'clarus: unexpected write-back plan' };
  const supplied = a.paramCount;
  // Parameters without a role (the row key, plain columns) are typed by the backend from their use.
  const paramTypes = Array.from({ length: a.paramCount }, (_, i) => paramTypeFor(a.params.get(i + 1), 0));
  const params = a.params.size > 0 ? paramTransformer(a.params, a.paramCount, (r) => rw.cipher(r), supplied) : undefined;
  const types = batchTypes(spec, paramTypes, a.params);
  const batch = types ? batchedWriteBack(sql, types) : null;
  return { command: spec.command, sql, paramTypes, ...(params ? { params } : {}), ...(batch ? { batch } : {}), ...ret, ...oneBatch(spec) };
}
