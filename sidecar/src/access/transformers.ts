// The result, COPY and in-proxy-stage transformers of a plan's statements for the user's views
// (the pipeline's per-statement work once access is decided). Pure; nothing here touches sockets.
import type { View } from '@clarus/crds/types.ts';
import type { CopyHooks, Refuse, ResultTransformer } from '../session/pipeline.ts';
import { resultShape, resultTransformer } from '../protection/results.ts';
import type { StatementPlan } from '../rewrite/rewriter.ts';
import type { KeyedRewriter as Rewriter } from '../protection/keyed-rewriter.ts';
import type { WriteSpec } from '../rewrite/two-stage/write.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { protectedOutputs } from './outputs.ts';
import { copyEncodingRefusal, copyHooks } from './copy-hooks.ts';
import type { BatchReporter } from './copy-hooks.ts';
import { residualStage } from './residual-stage.ts';
import type { ResidualService } from './residual-stage.ts';
import { writeBack } from './write-back.ts';
import { computedReturning } from './returning-stage.ts';
import { ComputedCursor } from './computed-cursor.ts';
import { batchNotices } from './batch-notice.ts';

export interface Transformers {
  results: Array<ResultTransformer | undefined>; copy: Array<CopyHooks | undefined>; shapes: string[];
  /** A DECLARE computed in two stages, by statement position: its FETCHes are served from it (computed-cursor.ts). */
  cursors?: Map<number, ComputedCursor>;
}

/** What the transformers of a session's statements are made with. */
export interface TransformEnv {
  rw: Rewriter;
  /** The user's view of each dataset. */
  views: Map<string, View>;
  /** The in-proxy stage (two-stage statements are refused without it). */
  residual?: ResidualService;
  /** Where a k-anonymity batch's report goes. */
  onReport?: BatchReporter;
  /** The session's computed cursors (a DECLARE computed in two stages joins them). */
  live?: Set<ComputedCursor>;
}

/** The transformer FETCHes of each statement's cursor use (a computed cursor serves its held rows). */
export function fetchedAs(t: Transformers): Array<ResultTransformer | undefined> {
  return t.results.map((r, i) => t.cursors?.get(i)?.transformer ?? r);
}

/** Identity for the candidates of a two-stage statement without protected outputs. */
const UNCHANGED: ResultTransformer = { fields: (f) => [...f], row: (v) => v };

type Outputs = Exclude<ReturnType<typeof protectedOutputs>, Refuse>;

export function transformers(env: TransformEnv, statements: StatementPlan[]): Transformers | Refuse {
  const t: Transformers = { results: [], copy: [], shapes: [] };
  for (const s of statements) {
    const outs = protectedOutputs(env.rw, s.results, env.views);
    if ('kind' in outs) return outs;
    const r = s.residual ? addTwoStage(env, s, outs, t) : addOrdinary(env, s, outs, t);
    if (r) return r;
  }
  return t;
}

/** A statement computed in two stages: its candidates' transformer with the in-proxy stage (and its write-back). */
function addTwoStage(env: TransformEnv, s: StatementPlan, outs: Outputs, t: Transformers): Refuse | undefined {
  const { residual } = env;
  const spec = s.residual;
  if (!spec) return undefined;
  if (!residual) return { kind: 'refuse', code: SQLSTATE.featureNotSupported, message: 'clarus: this statement needs the in-proxy stage, which is not enabled' };
  const unseen = computedFromUnseen(spec.write, outs);
  if (unseen) return unseen;
  const cursor = heldCursor(spec.write, env.live);
  if (cursor) (t.cursors ??= new Map()).set(t.results.length, cursor);
  const write = spec.write ? writeBack(env.rw, spec.write, cursor, (r, o) => computedReturning({ rw: env.rw, views: env.views, service: residual }, r, o)) : undefined;
  if (write && 'kind' in write) return write;
  t.results.push({ ...(resultTransformer(outs) ?? UNCHANGED), residual: residualStage(residual, spec, write) });
  t.copy.push(undefined);
  t.shapes.push(`${resultShape(outs)};residual:${spec.sql}`);
  return undefined;
}

/**
 * A write the proxy computes reads the candidates' protected values as this user sees them: a
 * user without the plaintext view would have masked (or still encrypted) values computed into the
 * rows it writes (overwriting the real values) and rows chosen by them. Refused (42501) unless
 * every protected value the in-proxy stage reads is shown in plaintext. A computed cursor only reads.
 */
function computedFromUnseen(write: WriteSpec | undefined, outs: Outputs): Refuse | undefined {
  if (!write || write.command === 'DECLARE CURSOR') return undefined;
  const o = outs.find((x) => x.view !== 'plaintext');
  if (!o) return undefined;
  return { kind: 'refuse', code: SQLSTATE.insufficientPrivilege,
    message: `permission denied: ${write.command === 'DELETE' ? 'a' : 'an'} ${write.command} the proxy computes from ${o.column} needs the plaintext view of it (this user has the ${o.view} view)` };
}

/** A statement the backend answers: its result transformer, or its COPY hooks. */
function addOrdinary(env: TransformEnv, s: StatementPlan, outs: Outputs, t: Transformers): Refuse | undefined {
  if (s.copy) {
    const r = copyEncodingRefusal(s.sql);
    if (r) return { kind: 'refuse', code: r.code, message: r.message };
  }
  // k-anonymity batches (COPY FROM, multi-row INSERT): a NOTICE with the report before the CommandComplete.
  const notices = batchNotices(s, s.copy ? undefined : resultTransformer(outs), env.onReport);
  t.results.push(notices.result);
  t.copy.push(s.copy ? copyHooks(env.rw, s.copy, outs, notices.onReport) : undefined);
  t.shapes.push(resultShape(outs));
  return undefined;
}

/** The proxy's holder of a computed cursor's rows (a DECLARE computed in two stages), by the name its write-back declares. */
function heldCursor(spec: WriteSpec | undefined, live: Set<ComputedCursor> | undefined): ComputedCursor | undefined {
  return spec?.cursor && live ? new ComputedCursor(spec.cursor.name, spec.cursor.hold, live) : undefined;
}
