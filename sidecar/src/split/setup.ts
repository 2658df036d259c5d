// I/O shell of splitting (issue 12): the SplitService of one configuration and backend grammar
// (fragment rewriters over each backend's fragment policy, their catalog loaders, the sessions'
// credentials), and the start-up checks and recovery loop of a proxy whose policy splits tables.
import { hostname } from 'node:os';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import { roleCredentials } from '../access/backend-role.ts';
import { catalogQuery, declaredFromRows, objectsFromRows, objectsQuery, simpleQuery } from '../access/catalog-loader.ts';
import type { CatalogLoader } from '../access/catalog-loader.ts';
import { CatalogRefresher } from '../access/refresh.ts';
import type { ResidualService } from '../access/residual-stage.ts';
import { loadBackend } from '../config/load.ts';
import type { BackendSecrets } from '../config/load.ts';
import type { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import type { SplitService } from './decide.ts';
import type { Fragment } from './fragment.ts';
import { fragmentPolicy, protectedColumnsOf, splitLayouts } from './layout.ts';
import type { SplitLayout } from './layout.ts';
import type { CatalogTable, DeclaredColumn } from '../rewrite/catalog.ts';
import { ensureDecisionTable, maxPrepared, startRecovery } from './recovery.ts';
import { SplitSession } from './session.ts';

/** Names this process in global transaction ids (at most 40 characters of [A-Za-z0-9_.-]). */
export const REPLICA = `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(-40);

export interface SplitSetup {
  configDir: string;
  config: RuntimeConfig;
  /** A rewriter over a policy (the fragment policies), with this configuration's keys and grammar. */
  rewriterFor(policy: RuntimeConfig['policy']): KeyedRewriter;
  now(): Date;
  residual?: ResidualService;
  /** Called when a split statement changed a schema (the main catalog reloads too). */
  schemaChanged?(): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  /** Resolves once the start-up checks made the decision table (awaited before the first decision). */
  ready?(): Promise<unknown>;
}

/** The backends that hold fragments of split tables (home first). */
export function fragmentBackends(config: RuntimeConfig): string[] {
  const out = [config.policy.defaultBackend];
  for (const l of splitLayouts(config.policy).values()) for (const b of l.sides) if (!out.includes(b)) out.push(b);
  return out;
}

function secretsOf(setup: Pick<SplitSetup, 'configDir' | 'config'>, name: string): BackendSecrets | undefined {
  const c = setup.config;
  // The home backend is the policy's default one, or the first backend (as the catalog loader reads it).
  const spec = c.backends.find((b) => b.name === name) ?? (name === c.policy.defaultBackend ? c.backends[0] : undefined);
  return spec ? loadBackend(setup.configDir, spec) : undefined;
}

/** The SplitService of a configuration, or undefined when its policy splits nothing. */
export function splitService(setup: SplitSetup): SplitService | undefined {
  const layouts = splitLayouts(setup.config.policy);
  if (layouts.size === 0) return undefined;
  const timeout = setup.config.limits.connectTimeoutSeconds * 1000;
  const secrets = new Map(fragmentBackends(setup.config).map((b) => [b, secretsOf(setup, b)]));
  const fragments = new Map<string, Fragment>();
  for (const [b, s] of secrets) {
    const rewriter = setup.rewriterFor(fragmentPolicy(setup.config.policy, b));
    const f: Fragment = { backend: b, rewriter };
    if (s) f.refresher = new CatalogRefresher(rewriter, async (tables) => declaredFromRows(await simpleQuery(s, catalogQuery(tables), timeout)), setup.now);
    fragments.set(b, f);
  }
  return {
    layouts,
    protectedColumns: protectedColumnsOf(setup.config.policy),
    fragments,
    ...(setup.residual ? { residual: setup.residual } : {}),
    session: (role) => new SplitSession({
      secrets: (b) => { const s = secrets.get(b); return s ? roleCredentials(s, role) : undefined; },
      home: setup.config.policy.defaultBackend,
      connectTimeoutMs: timeout,
      replica: REPLICA,
      ...(setup.ready ? { ready: setup.ready } : {}),
      ...(setup.warn ? { warn: setup.warn } : {}),
    }),
    schemaChanged: () => {
      for (const f of fragments.values()) f.refresher?.invalidate();
      setup.schemaChanged?.();
    },
  };
}

/**
 * What a split policy needs of its backends, in words (empty = ready): reachable, two-phase
 * commit enabled (max_prepared_transactions > 0), the decision table made on the home backend.
 */
export async function prepareBackends(configDir: string, config: RuntimeConfig): Promise<string[]> {
  const problems: string[] = [];
  if (splitLayouts(config.policy).size === 0) return problems;
  const timeout = config.limits.connectTimeoutSeconds * 1000;
  for (const b of fragmentBackends(config)) {
    const s = secretsOf({ configDir, config }, b);
    if (!s) { problems.push(`backend "${b}" stores split columns but is not among the proxy's backends`); continue; }
    try {
      const n = await maxPrepared(s, timeout);
      if (n === 0) problems.push(`backend "${b}" has max_prepared_transactions = 0: writes over split tables need two-phase commit (set it to at least the number of proxy connections to it)`);
      if (b === config.policy.defaultBackend) await ensureDecisionTable(s, timeout);
    } catch (e) {
      problems.push(`backend "${b}" (split columns): ${(e as Error).message}`);
    }
  }
  return problems;
}

/** Starts the recovery loop of a split policy's backends (undefined when nothing is split). */
export function splitRecovery(configDir: string, config: RuntimeConfig, opts: { graceSeconds: number; everySeconds: number; log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void }): ReturnType<typeof startRecovery> | undefined {
  if (splitLayouts(config.policy).size === 0) return undefined;
  const backends = fragmentBackends(config).map((b) => secretsOf({ configDir, config }, b)).filter((b): b is BackendSecrets => b !== undefined);
  return startRecovery({ home: config.policy.defaultBackend, backends, graceSeconds: opts.graceSeconds, connectTimeoutMs: config.limits.connectTimeoutSeconds * 1000, ...(opts.log ? { log: opts.log } : {}) }, opts.everySeconds);
}

/**
 * The home catalog loader of a split policy, extended with what each split table has on its other
 * backends, as those declare it (`backend` set): its columns there, then its indexes and CHECK
 * constraints there (`object` set). Catalog introspection through the proxy shows the one logical
 * table (rewrite/logical-catalog.ts). A backend that cannot be read leaves its part out of this
 * load (the home fragment's columns are what matters for the rewriter; the other datasets keep
 * working).
 */
export function withRemoteColumns(load: CatalogLoader, configDir: string, config: RuntimeConfig, warn?: (message: string, fields?: Record<string, unknown>) => void): CatalogLoader {
  const layouts = splitLayouts(config.policy);
  if (layouts.size === 0) return load;
  const timeout = config.limits.connectTimeoutSeconds * 1000;
  return async (tables) => {
    const declared = await load(tables);
    const split = tables.filter((t) => layouts.has(`${t.schema}.${t.table}`) && declared.has(`${t.schema}.${t.table}`));
    const sides = [...new Set(split.flatMap((t) => (layouts.get(`${t.schema}.${t.table}`) as SplitLayout).sides))];
    for (const b of sides) {
      const s = secretsOf({ configDir, config }, b);
      const mine = split.filter((t) => (layouts.get(`${t.schema}.${t.table}`) as SplitLayout).sides.includes(b));
      if (!s || mine.length === 0) continue;
      try {
        const there = await sideEntries(s, mine, layouts, timeout);
        for (const [key, entries] of there) declared.set(key, [...(declared.get(key) ?? []), ...entries.map((e) => ({ ...e, backend: b }))]);
      } catch (e) {
        warn?.('the columns of split tables on a backend could not be loaded', { backend: b, error: (e as Error).message });
      }
    }
    return declared;
  };
}

/** What one other backend holds of `tables`: their columns (the row key left out), then their indexes and CHECK constraints. */
async function sideEntries(s: BackendSecrets, tables: CatalogTable[], layouts: ReadonlyMap<string, SplitLayout>, timeout: number): Promise<Map<string, DeclaredColumn[]>> {
  const columns = declaredFromRows(await simpleQuery(s, catalogQuery(tables), timeout), { storedTypmod: true });
  const objects = objectsFromRows(await simpleQuery(s, objectsQuery(tables), timeout));
  const out = new Map<string, DeclaredColumn[]>();
  for (const t of tables) {
    const key = `${t.schema}.${t.table}`;
    const rowKey = (layouts.get(key) as SplitLayout).key;
    const cols = (columns.get(key) ?? []).filter((c) => c.name !== rowKey);
    const objs = (objects.get(key) ?? []).map((o): DeclaredColumn => ({ name: o.name, typeOid: 0, object: o }));
    out.set(key, [...cols, ...objs]);
  }
  return out;
}
