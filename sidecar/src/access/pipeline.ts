// The protection pipeline: what the session calls per Query/Parse (see session/pipeline.ts).
// Order per statement: rewrite analysis (cached by text) → access decision for the datasets it
// touches → audit line → Pass | Rewrite (with param/result/COPY transformers for the user's
// views) | Refuse. Clock and audit sink are injected; nothing here touches sockets or files.
import type { View } from '../../../crds/src/types.ts';
import type { CopyHooks, Pipeline, PipelineFactory, QueryDecision, Refuse, ResultTransformer, SessionInfo, StatementDecision } from '../session/pipeline.ts';
import { pass } from '../session/pipeline.ts';
import { clientTypeFor, paramTransformer, paramTypeFor } from '../protection/params.ts';
import { resultTransformer } from '../protection/results.ts';
import type { ProtectedOutput } from '../protection/results.ts';
import type { Rewriter, StatementPlan } from '../rewrite/rewriter.ts';
import type { OutCol } from '../rewrite/scope.ts';
import type { AuditEntry } from './audit.ts';
import { copyHooks } from './copy-hooks.ts';
import { decideStatement } from './grants.ts';
import type { CatalogRefresher } from './refresh.ts';

export interface ProtectionDeps {
  rewriter: Rewriter;
  now: () => Date;
  audit?: (entry: AuditEntry) => void;
  /** Loads declared column types from the backend before statements on not-yet-known tables. */
  refresher?: CatalogRefresher;
}

type Plan = Extract<ReturnType<Rewriter['analyze']>, { kind: 'plan' }>;

function refuse(code: string, message: string): Refuse {
  return { kind: 'refuse', code, message };
}

/** Positions of ciphertext outputs; refused when an unknown-width `*` precedes one. */
export function protectedOutputs(rw: Rewriter, outs: OutCol[], views: Map<string, View>): ProtectedOutput[] | Refuse {
  const result: ProtectedOutput[] = [];
  let unknownBefore = false;
  for (const [index, o] of outs.entries()) {
    if (o.star) unknownBefore = true;
    if (!o.prov) continue;
    if (unknownBefore) return refuse('0A000', `clarus: SELECT * over a relation unknown to the policy before encrypted column ${o.prov.table.table}.${o.prov.column.name}; list the columns`);
    result.push({ index, cipher: rw.cipher(o.prov), typeOid: o.prov.column.typeOid, view: views.get(o.prov.table.dataset) ?? 'protected' });
  }
  return result;
}

interface Transformers { results: Array<ResultTransformer | undefined>; copy: Array<CopyHooks | undefined> }

function transformers(rw: Rewriter, statements: StatementPlan[], views: Map<string, View>): Transformers | Refuse {
  const t: Transformers = { results: [], copy: [] };
  for (const s of statements) {
    const outs = protectedOutputs(rw, s.copy?.direction === 'out' ? s.copy.outputs : s.outputs, views);
    if ('kind' in outs) return outs;
    t.results.push(s.copy ? undefined : resultTransformer(outs));
    t.copy.push(s.copy ? copyHooks(rw, s.copy, outs) : undefined);
  }
  return t;
}

export function protectionPipelineFactory(deps: ProtectionDeps): PipelineFactory {
  return (info: SessionInfo): Pipeline => new ProtectionPipeline(deps, info);
}

class ProtectionPipeline implements Pipeline {
  readonly passthrough = false;
  private readonly deps: ProtectionDeps;
  private readonly info: SessionInfo;

  constructor(deps: ProtectionDeps, info: SessionInfo) {
    this.deps = deps;
    this.info = info;
  }

  /** Access check and audit; returns the views, or the refusal to answer. */
  private decide(sql: string, a: ReturnType<Rewriter['analyze']>): Map<string, View> | Refuse {
    // A read of nothing protected needs no decision; a write needs a read-write user, and a
    // statement whose effect reaches objects it does not name (DROP OWNED…) every dataset.
    if (a.kind === 'pass' && !a.write && !a.everyDataset) return new Map();
    const touched = a.kind === 'pass' ? new Map<string, Set<string>>() : a.datasets;
    const names = a.everyDataset ? this.deps.rewriter.catalog.all().map((t) => t.dataset) : [...touched.keys()];
    const access = decideStatement(this.info.user, this.info.grants, names, a.write, this.deps.now());
    const outcome: Refuse | null = !access.ok ? refuse(access.code, access.message) : a.kind === 'refuse' ? refuse(a.code, a.message) : null;
    this.deps.audit?.({
      time: this.deps.now().toISOString(),
      user: this.info.user,
      datasets: names,
      columns: [...touched].flatMap(([d, cols]) => [...cols].map((c) => `${d}.${c}`)),
      fingerprint: this.deps.rewriter.fingerprint(sql),
      outcome: outcome ? 'refuse' : 'allow',
      ...(outcome ? { code: outcome.code } : {}),
    });
    return outcome ?? (access.ok ? access.views : new Map());
  }

  query(sql: string): QueryDecision | Promise<QueryDecision> {
    const wait = this.deps.refresher?.before(sql);
    return wait ? wait.then(() => this.queryNow(sql)) : this.queryNow(sql);
  }

  parse(sql: string, paramTypes: readonly number[]): StatementDecision | Promise<StatementDecision> {
    const wait = this.deps.refresher?.before(sql);
    return wait ? wait.then(() => this.parseNow(sql, paramTypes)) : this.parseNow(sql, paramTypes);
  }

  private queryNow(sql: string): QueryDecision {
    const a = this.deps.rewriter.analyze(sql);
    const views = this.decide(sql, a);
    if ('kind' in views) return views;
    if (a.kind !== 'plan') return pass;
    const t = transformers(this.deps.rewriter, a.statements, views);
    if ('kind' in t) return t;
    if (!a.statements.some((s) => s.changed) && !t.results.some(Boolean) && !t.copy.some(Boolean)) return pass;
    return { kind: 'rewrite', sql: a.statements.map((s) => s.sql).join(';\n'), results: t.results, copy: t.copy };
  }

  private parseNow(sql: string, paramTypes: readonly number[]): StatementDecision {
    const a = this.deps.rewriter.analyze(sql);
    const views = this.decide(sql, a);
    if ('kind' in views) return views;
    if (a.kind !== 'plan' || a.statements.length !== 1) return pass;
    const t = transformers(this.deps.rewriter, a.statements, views);
    if ('kind' in t) return t;
    return this.statementDecision(a, paramTypes, t);
  }

  private statementDecision(a: Plan, paramTypes: readonly number[], t: Transformers): StatementDecision {
    const s = a.statements[0] as StatementPlan;
    const hasRoles = a.params.size > 0;
    if (!s.changed && !hasRoles && !t.results[0] && !t.copy[0]) return pass;
    const decision: StatementDecision = { kind: 'rewrite', sql: s.sql };
    if (hasRoles) {
      const clientCount = Math.max(paramTypes.length, a.paramCount);
      decision.paramTypes = Array.from({ length: a.paramCount }, (_, i) => paramTypeFor(a.params.get(i + 1), paramTypes[i] ?? 0));
      decision.clientParamTypes = Array.from({ length: clientCount }, (_, i) => clientTypeFor(a.params.get(i + 1)) || (paramTypes[i] ?? 0));
      decision.params = paramTransformer(a.params, a.paramCount, (r) => this.deps.rewriter.cipher(r));
    }
    if (t.results[0]) decision.result = t.results[0];
    if (t.copy[0]) decision.copy = t.copy[0];
    return decision;
  }
}
