// WITH queries that themselves compute on encrypted values (issue 10), e.g.
// `WITH t AS (SELECT pat_id, lower(pat_name) AS n FROM patient) SELECT n, count(*) FROM t GROUP BY n`:
// the rules refuse the WITH query, so it cannot stay with the backend stage. Instead every WITH
// query is split on its own (its FROM clause and pushable conjuncts go to the backend, as one arm of
// the backend stage: split.ts armsJoined), its residual becomes the same WITH query in the engine,
// over its arm's candidate rows, and the main statement runs in the engine as written.
//
// The shape this covers: non-recursive WITH queries that are single SELECTs over tables (none reads
// another WITH query), and a main statement that reads only the WITH queries (no table, no
// subquery). Anything else keeps the original refusal.
import { arr, body, tagOf } from '../ast.ts';
import type { Json } from '../ast.ts';
import { armResidual, armsJoined, checkResidualNode, Collector, no, splitBlock, withParams } from './split.ts';
import type { ProbeFrom, TwoStage } from './split.ts';

/** Relation names (unqualified RangeVars) anywhere in `node`, and whether it holds a subquery or a qualified name. */
function relations(node: unknown, out: { names: Set<string>; qualified: boolean; sublink: boolean }): typeof out {
  if (Array.isArray(node)) { for (const n of node) relations(n, out); return out; }
  if (!node || typeof node !== 'object') return out;
  const t = tagOf(node);
  if (t?.[0] === 'RangeVar') {
    if (t[1].schemaname || t[1].catalogname) out.qualified = true;
    out.names.add(String(t[1].relname));
    return out;
  }
  if (t?.[0] === 'SubLink' || t?.[0] === 'RangeSubselect' || t?.[0] === 'RangeFunction') out.sublink = true;
  for (const v of Object.values(node as Json)) relations(v, out);
  return out;
}

const scan = (node: unknown): ReturnType<typeof relations> => relations(node, { names: new Set(), qualified: false, sublink: false });

/** The main statement, in the engine as written: only its parameters are renumbered, and what the engine cannot compute is refused. */
export function engineOnly(node: unknown, c: Collector, differs: ReadonlySet<string>): unknown {
  if (Array.isArray(node)) return node.map((n) => engineOnly(n, c, differs));
  if (!node || typeof node !== 'object') return node;
  const t = tagOf(node);
  if (t) {
    if (t[0] === 'ParamRef') return c.param(t[1]);
    checkResidualNode(t[0], t[1], differs);
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) out[k] = engineOnly(v, c, differs);
  return out;
}

/** Splits `s` (a SELECT or set operation with a WITH clause) with every WITH query computed in the engine. */
export function splitWithInEngine(s: Json, pushable: (conjunct: unknown, from: ProbeFrom) => boolean, differs: ReadonlySet<string>): TwoStage {
  const w = body(s.withClause, 'WithClause') ?? (s.withClause as Json | undefined) ?? no('no WITH clause');
  const wrapped = body(s.withClause, 'WithClause') !== null;
  if (w.recursive) no('WITH RECURSIVE');
  const ctes = arr(w.ctes).map((x) => body(x, 'CommonTableExpr') as Json);
  const names = new Set(ctes.map((x) => String(x.ctename)));
  const params: number[] = [];
  const parts = ctes.map((cte, i) => {
    const q = body(cte.ctequery, 'SelectStmt') ?? no('a data-modifying WITH query');
    if (q.op && q.op !== 'SETOP_NONE') no('a set operation as a WITH query');
    if (q.withClause) no('a nested WITH');
    const refs = scan(q.fromClause);
    if ([...refs.names].some((n) => names.has(n))) no('a WITH query that reads another');
    const c = new Collector(differs, `w${i + 1}_`, params);
    return { c, b: splitBlock(q, c, (x) => pushable(x, { fromClause: q.fromClause })), cte };
  });
  const main = { ...s };
  delete main.withClause;
  const reads = scan(main);
  if (reads.qualified || reads.sublink || [...reads.names].some((n) => !names.has(n))) no('a main statement that reads more than its WITH queries');
  const top = new Collector(differs, 't', params);
  const backend = armsJoined(parts);
  const residual = engineOnly(main, top, differs) as Json;
  const engineWith = { ...w, ctes: parts.map(({ b, cte }, i) => ({ CommonTableExpr: { ...cte, ctequery: { SelectStmt: armResidual(b.residual, i + 1) } } })) };
  residual.withClause = wrapped ? { WithClause: engineWith } : engineWith;
  const columns = ['arm', ...parts.flatMap(({ c }) => c.names)];
  const { blank } = withParams(backend, columns, top, [parts.map(({ b }) => [b.from, b.pushed]), parts.map(({ c }) => c.refs)]);
  return { backend, residual, columns, params, blank, pushed: parts.reduce((n, p) => n + p.b.pushed.length, 0), kept: parts.reduce((n, p) => n + p.b.kept, 0) };
}
