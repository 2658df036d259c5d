// `explain --sql` through the proxy's own rewriter (sidecar/src/rewrite), loaded lazily so the
// policy tooling does not load the proxy unless asked. The rewriter holds no keys: protected
// constants are shown as the placeholders the proxy fills (`<encrypt patient.pat_ssn (randomized)>`).
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import type { SplitPlan } from '@clarus/sidecar/split/plan.ts';
import { DEFAULT_KEY, usedKeyNames } from '@clarus/policy/runtime/policy.ts';
import { formatTable } from './table.ts';

export type RewriteOutcome =
  | { kind: 'pass' }
  | { kind: 'refuse'; code: string; message: string }
  | { kind: 'plan'; statements: string[]; stages?: Array<TwoStages | undefined>; /** Per statement, its result directives other than plain passes (`column 2 `name`: decrypt …`). */ results?: string[][] }
  | { kind: 'split'; dataset: string; steps: SplitStep[]; engine?: string };

/** One statement a backend receives for a statement on a split table (as its fragment's rewriter sends it). */
export interface SplitStep { backend: string; what: string; sql: string }

/** A two-stage statement: what the backend evaluates, what the proxy computes, what the backend learns. */
export interface TwoStages { backend: string; proxy: string; pushed: number; kept: number; learns: string; writeBack?: string }

export async function rewriteSql(sql: string, policy: RuntimePolicy): Promise<RewriteOutcome> {
  const [{ Rewriter }, { Catalog }, { describedAnalysis }, { loadParser }, { describeDirective }] = await Promise.all([
    import('@clarus/sidecar/rewrite/rewriter.ts'),
    import('@clarus/sidecar/rewrite/catalog.ts'),
    import('@clarus/sidecar/protection/fill.ts'),
    import('@clarus/sidecar/rewrite/parser.ts'),
    import('@clarus/sidecar/rewrite/result-directives.ts'),
  ]);
  await loadParser();
  // Every key the policy names, with the versions its keyring lists (one when it lists none here).
  const names = [...new Set([DEFAULT_KEY, ...usedKeyNames(policy.datasets)])];
  const listed = new Map(policy.keyring.keys.map((k) => [k.name, k]));
  const keys = names.map((name) => listed.get(name) ?? { name, versions: [1], current: 1 });
  const shown = (p: RuntimePolicy) => {
    const rw = new Rewriter(new Catalog(p), { twoStage: true });
    return { analyze: (text: string) => describedAnalysis(rw.analyze(text)) };
  };
  const rewriter = shown({ ...policy, keyring: { ...policy.keyring, keys } });
  const a = rewriter.analyze(sql);
  if (a.kind === 'refuse' && a.split) return splitSql(sql, { ...policy, keyring: { ...policy.keyring, keys } }, shown);
  if (a.kind === 'pass') return { kind: 'pass' };
  if (a.kind === 'refuse') return { kind: 'refuse', code: a.code, message: a.message };
  const stages = a.statements.map((s): TwoStages | undefined => s.residual && {
    backend: s.sql, proxy: s.residual.sql, pushed: s.residual.pushed, kept: s.residual.kept,
    learns: s.residual.pushed === 0
      ? 'every row of the tables in FROM is fetched: the backend learns that a full scan happened (and how many rows there are), not the values'
      : 'the rows matching the pushed conditions are fetched: the backend learns which rows those are, as it would for the pushed conditions alone',
    ...(s.residual.write ? { writeBack: writeBackOf(rewriter, s.residual.write.sql) } : {}),
  });
  const results = a.statements.map((s) => s.results.flatMap((d, i) => (d.kind === 'pass' && d.carries === 'plain' ? [] : [describeDirective(d, i)])));
  return { kind: 'plan', statements: a.statements.map((s) => s.sql), ...(stages.some(Boolean) ? { stages } : {}), ...(results.some((r) => r.length > 0) ? { results } : {}) };
}

type FragmentRewriter = { analyze(sql: string): { kind: 'pass' } | { kind: 'refuse'; message: string } | { kind: 'plan'; statements: Array<{ sql: string }> } };

/** The statements each backend receives for a statement on a split table (issue 12). */
async function splitSql(sql: string, policy: RuntimePolicy, rewriterFor: (p: RuntimePolicy) => FragmentRewriter): Promise<RewriteOutcome> {
  const [{ splitLayouts, fragmentPolicy }, { planSplit, SplitUnsupported, KEYS_PARAM }, { parseStatements }, { SQLSTATE }, { layoutOf }, { rewritePoints }] = await Promise.all([
    import('@clarus/sidecar/split/layout.ts'), import('@clarus/sidecar/split/plan.ts'), import('@clarus/sidecar/rewrite/parser.ts'),
    import('@clarus/sidecar/protocol/sqlstate.ts'), import('@clarus/sidecar/split/decide.ts'), import('@clarus/sidecar/split/points.ts'),
  ]);
  const stmt = parseStatements(sql)[0]?.stmt;
  const layouts = splitLayouts(policy);
  const l = stmt ? layoutOf(layouts, stmt) : undefined;
  if (!stmt || !l) return { kind: 'refuse', code: SQLSTATE.featureNotSupported, message: 'clarus: this statement names a split table in a form the proxy cannot plan' };
  let plan;
  try {
    // A point split by coordinates: the statement over its hidden parts (values become parameters the proxy derives).
    const points = rewritePoints(layouts.values(), stmt, Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))), l);
    plan = planSplit(l, points?.stmt ?? stmt, layouts);
  } catch (e) {
    if (e instanceof SplitUnsupported) return { kind: 'refuse', code: SQLSTATE.featureNotSupported, message: `clarus: ${e.message}` };
    throw e;
  }
  const rewriters = new Map<string, FragmentRewriter>();
  const sent = (backend: string, logical: string): string => {
    let rw = rewriters.get(backend);
    if (!rw) rewriters.set(backend, (rw = rewriterFor(fragmentPolicy(policy, backend))));
    const r = rw.analyze(logical);
    if (r.kind === 'refuse') return `(refused by ${backend}'s rules: ${r.message})`;
    return r.kind === 'plan' ? r.statements.map((x) => x.sql).join('; ') : logical;
  };
  const step = (backend: string, what: string, logical: string): SplitStep => ({ backend, what, sql: sent(backend, logical) });
  return splitOutcome(plan, { dataset: l.dataset, home: l.home, keys: `$${KEYS_PARAM}` }, step);
}

type Step = (backend: string, what: string, logical: string) => SplitStep;

/** The steps of a split plan, each as its backend's rewriter sends it. */
function splitOutcome(plan: SplitPlan, l: { dataset: string; home: string; keys: string }, step: Step): RewriteOutcome {
  switch (plan.kind) {
    case 'select': return { kind: 'split', dataset: l.dataset, engine: plan.engine.sql,
      steps: plan.relations.flatMap((r) => [
        step(l.home, r.layout ? `home fragment of ${r.table.table}, with the conditions its rules accept` : `table ${r.table.table}, with the conditions its rules accept`, r.home.sql),
        ...r.sides.map((x) => step(x.backend, `its columns of ${r.table.table} for the row keys the home fragment returned`, x.sql)),
      ]) };
    case 'insert':
      // Without a column list the fragments' statements depend on the recorded column order, read at run time.
      if (plan.positional) return { kind: 'split', dataset: l.dataset, steps: [step(l.home, 'the recorded column order of the table (the INSERT is planned for it: its values by position, each column to its fragment)', plan.home.sql)] };
      return { kind: 'split', dataset: l.dataset, steps: [step(l.home, 'home fragment (returns the row keys)', plan.home.sql), ...plan.sides.map((x) => step(x.backend, 'its columns, keyed by the returned row keys', x.sql))] };
    case 'update': case 'delete': return { kind: 'split', dataset: l.dataset, steps: [
      ...plan.filters.map((x) => step(x.backend, 'row keys matching its conditions (locked)', x.sql)),
      step(l.home, 'home fragment (returns the changed row keys)', plan.home.sql),
      ...plan.sides.map((x) => step(x.backend, 'the same row keys', x.sql)),
    ].map((x) => ({ ...x, sql: x.sql.replace(l.keys, '$keys') })) };
    case 'ddl': return { kind: 'split', dataset: l.dataset, steps: plan.statements.map((x) => step(x.backend, 'its fragment', x.sql)) };
  }
}

/** The write-back statement as the backend gets it (once per computed row, values encrypted at Bind). */
function writeBackOf(rw: { analyze(sql: string): { kind: string; statements?: Array<{ sql: string }> } }, sql: string): string {
  const a = rw.analyze(sql);
  return a.kind === 'plan' ? (a.statements?.[0]?.sql ?? sql) : sql;
}

function formatStages(t: TwoStages, i: number): string {
  const write = t.writeBack ? [`     write-back (per computed row, by row key, values encrypted per column): ${t.writeBack}`] : [];
  return [`  ${i + 1}. computed in two stages (${t.pushed} condition(s) evaluated by the backend, ${t.kept} by the proxy):`,
    `     backend stage: ${t.backend}`, `     proxy stage:   ${t.proxy}`, ...write, `     the backend learns: ${t.learns}${t.writeBack ? ', and which rows the write changed' : ''}`].join('\n');
}

/** The result directives of one statement: what the proxy does to each result column on the way back (for users whose grant allows it). */
function formatResults(directives: string[] | undefined, staged: boolean): string {
  if (!directives?.length) return '';
  const what = staged ? "the backend stage's columns, before the proxy stage" : 'results';
  return `\n     ${what} (reversed only for users whose grant shows plaintext or masked values):\n${directives.map((d) => `       ${d}`).join('\n')}`;
}

export function formatRewrite(r: RewriteOutcome, protectedRows: string[][]): string {
  const cols = protectedRows.length > 0 ? `\nProtected columns referenced:\n${formatTable(['DATASET', 'COLUMN', 'PROTECTION', 'BACKEND', 'LEAKS'], protectedRows)}\n` : '';
  if (r.kind === 'pass') return `Passes through unchanged (touches no protected column).\n${cols}`;
  if (r.kind === 'refuse') return `Refused with SQLSTATE ${r.code}: ${r.message}\n${cols}`;
  if (r.kind === 'split') {
    const steps = r.steps.map((x, i) => `  ${i + 1}. ${x.backend} (${x.what}): ${x.sql}`);
    const engine = r.engine ? `\n  then the proxy joins the fragments on the row key and computes: ${r.engine}` : '';
    return `Dataset ${r.dataset} is split: each backend receives only its fragment's statement (writes on several backends commit with two-phase commit):\n${steps.join('\n')}${engine}\n${cols}`;
  }
  const lines = r.statements.map((s, i) => {
    const t = r.stages?.[i];
    return (t ? formatStages(t, i) : `  ${i + 1}. ${s}`) + formatResults(r.results?.[i], t !== undefined);
  });
  return `Rewritten by the proxy's rewriter (protected constants shown as the placeholders the proxy fills with the keys):\n${lines.join('\n')}\n${cols}`;
}
