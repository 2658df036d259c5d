// The RETURNING of a write that computes (issue 10, rewrite/two-stage/returning.ts), as the session
// gets it: the write-back's returned columns are shown per the user's view by the same result
// transformer a plain RETURNING of them gets, then the engine computes the client's list over them.
import type { View } from '@clarus/crds/types.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import type { ResultDirective } from '../rewrite/result-directives.ts';
import type { ReturningSpec } from '../rewrite/two-stage/returning.ts';
import { CANDIDATES } from '../rewrite/two-stage/split.ts';
import type { ComputedReturning, FieldDescription, Refuse, ResultTransformer } from '../session/pipeline.ts';
import { resultTransformer } from '../protection/results.ts';
import { protectedOutputs } from './outputs.ts';
import { residualStage } from './residual-stage.ts';
import type { ResidualService } from './residual-stage.ts';

const UNCHANGED: ResultTransformer = { fields: (f) => [...f], row: (v) => v };

/** What a computed RETURNING is made with: the rewriter, the user's views, the in-proxy stage. */
export interface ReturningEnv { rw: KeyedRewriter; views: Map<string, View>; service: ResidualService }

/** What the session needs for `spec`, given the outputs of the rewritten write-back (its RETURNING); the views' refusal otherwise. */
export function computedReturning({ rw, views, service }: ReturningEnv, spec: ReturningSpec, outputs: readonly ResultDirective[]): ComputedReturning | Refuse {
  const outs = protectedOutputs(rw, outputs, views);
  if ('kind' in outs) return outs;
  const rows = resultTransformer(outs) ?? UNCHANGED;
  const declared: FieldDescription[] = spec.columns.map((name, i) => ({ name, tableOid: 0, columnAttr: 0, typeOid: spec.types[i]?.typeOid ?? 25, typeSize: -1,
    typeModifier: spec.types[i]?.typmod ?? -1, format: 0 }));
  const stage = residualStage(service, { sql: spec.sql, relation: CANDIDATES, columns: spec.columns, params: [], blank: [], pushed: 0, kept: 0 });
  return { rows, stage, fields: rows.fields(declared) };
}
