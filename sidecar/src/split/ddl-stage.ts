// Splitting (issue 12): the stage of a split table's DDL (plan.ts DdlPlan), one write over the
// backends (split/session.ts): the names a new index or constraint takes are checked on the other
// backends first (42P07), `CREATE INDEX IF NOT EXISTS` is skipped with PostgreSQL's NOTICE when a
// relation of any backend has its name, an unnamed `CREATE INDEX` is given the name PostgreSQL
// would give it for the logical table (index-name.ts: the first candidate no backend has), then
// the statements run.
import { StatementError } from '../session/pipeline.ts';
import type { ResidualStage, StageResult } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { deparseStatement } from '../rewrite/parser.ts';
import { quoteLiteral } from '../residual/plan.ts';
import { fragmentOf, runFragment } from './fragment.ts';
import type { FragmentConnection } from './conn.ts';
import { candidates } from './index-name.ts';
import { recordOrder } from './order-io.ts';
import type { DdlPlan } from './plan.ts';
import type { StageDeps } from './stage.ts';

type Enter = (backend: string) => Promise<FragmentConnection>;

/** Candidate names asked of the backends at once, and how many rounds before giving up (PostgreSQL tries on without bound). */
const CANDIDATES = 64;
const ROUNDS = 16;

/** The names among `names` a relation of the table's schema has on one of its backends (in the write's transaction). */
async function taken(d: StageDeps, enter: Enter, p: DdlPlan, names: readonly string[]): Promise<Set<string>> {
  const list = names.map((n) => quoteLiteral(n)).join(', ');
  const probe = `SELECT n FROM pg_catalog.unnest(ARRAY[${list}]::text[]) n WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', ${quoteLiteral(p.layout.schema)}::text, n)) IS NOT NULL`;
  const out = new Set<string>();
  for (const b of [p.layout.home, ...p.layout.sides]) {
    const got = await runFragment(await enter(b), fragmentOf(d.fragments, b), probe, [], d.views);
    for (const r of got.rows) out.add(r[0]?.toString() ?? '');
  }
  return out;
}

/** The first of PostgreSQL's candidate names for an unnamed index that no backend of the table has a relation of. */
async function chooseName(d: StageDeps, enter: Enter, p: DdlPlan, stem: NonNullable<DdlPlan['autoName']>['stem']): Promise<string> {
  for (let round = 0; round < ROUNDS; round++) {
    const names = candidates(stem, round * CANDIDATES, CANDIDATES);
    const used = await taken(d, enter, p, names);
    const free = names.find((n) => !used.has(n));
    if (free !== undefined) return free;
  }
  throw new StatementError(SQLSTATE.duplicateTable, `clarus: the first ${ROUNDS * CANDIDATES} names PostgreSQL would give this index are taken on the backends of split table ${p.layout.schema}.${p.layout.table}: give the index a name`);
}

/** The statements to run ([] when IF NOT EXISTS skips), and the notice of a skip. */
async function prepared(d: StageDeps, enter: Enter, p: DdlPlan): Promise<{ sql: Array<{ backend: string; sql: string }>; notices?: StageResult['notices'] }> {
  const given = p.ifNotExists;
  if (given !== undefined && (await taken(d, enter, p, [given])).size > 0) return { sql: [], notices: [{ code: SQLSTATE.duplicateTable, message: `relation "${given}" already exists, skipping` }] };
  for (const u of p.unused ?? []) {
    const probe = `SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', ${quoteLiteral(u.schema)}::text, ${quoteLiteral(u.name)}::text)) IS NOT NULL`;
    const got = await runFragment(await enter(u.backend), fragmentOf(d.fragments, u.backend), probe, [], d.views);
    if (got.rows[0]?.[0]?.toString() === 't') throw new StatementError(SQLSTATE.duplicateTable, `relation "${u.name}" already exists`);
  }
  if (!p.autoName) return { sql: p.statements };
  const name = await chooseName(d, enter, p, p.autoName.stem);
  const create = p.autoName.create as { IndexStmt: Record<string, unknown> };
  return { sql: p.statements.map((s) => ({ backend: s.backend, sql: deparseStatement({ IndexStmt: { ...create.IndexStmt, idxname: name } }) })) };
}

/** The stage of a DDL plan (its row limits are the caller's). */
export function ddlStage(d: StageDeps, p: DdlPlan): Omit<ResidualStage, 'maxRows' | 'maxBytes'> {
  return {
    blank: [],
    describe: async () => null,
    async run(_c, _rows, _formats, settings) {
      d.session.mayWrite = true;
      d.session.useSettings(settings);
      try {
        return await d.session.write(async (enter) => {
          const { sql, notices } = await prepared(d, enter, p);
          for (const s of sql) await runFragment(await enter(s.backend), fragmentOf(d.fragments, s.backend), s.sql, [], d.views);
          // The recorded column order changes in the same transaction as the DDL (column-order.ts).
          if (p.order && !notices) { await d.session.tablesReady(); await recordOrder(await enter(p.layout.home), p.layout, p.order); }
          return { fields: null, rows: [], tag: p.tag, ...(notices ? { notices } : {}) };
        });
      } finally {
        d.session.afterBlock(() => d.schemaChanged());
      }
    },
  };
}
