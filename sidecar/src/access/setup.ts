// I/O shell of the protection pipeline: loads the parser (wasm), takes the master keys from the key
// source (the keyring files, or the data keys it unwrapped through Vault), opens the audit log, wires the backend catalog loader, and returns
// the PipelineFactory to give startProxy. One Rewriter (catalog + cache) per policy object: a reloaded configuration gets a
// fresh one, sessions keep the one they started with.
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import { KeyDeriver } from '../protection/encryption/derive.ts';
import { parseKeyring } from '../protection/encryption/keyring.ts';
import { Catalog } from '../rewrite/catalog.ts';
import { isTestDatabaseOf, onTestDatabase, testDatabaseBase } from '../rewrite/test-databases.ts';
import { loadRewriterParser } from '../rewrite/parser.ts';
import { grammarLoaded, loadGrammar, majorOf, REWRITER_MAJOR, SUPPORTED_MAJORS } from '../rewrite/grammar.ts';
import type { Major } from '../rewrite/grammar.ts';
import { KeyedRewriter } from '../protection/keyed-rewriter.ts';
import type { PipelineFactory, SessionInfo } from '../session/pipeline.ts';
import { passthroughPipeline } from '../session/pipeline.ts';
import { AuditFile } from './audit-file.ts';
import { readPlainKeyFiles } from '../io/key-source.ts';
import type { KeySource } from '../io/key-source.ts';
import { backendCatalogLoader, backendSecrets, backendViewLoader } from './catalog-loader.ts';
import { protectionPipelineFactory } from './pipeline.ts';
import type { ProtectionDeps } from './pipeline.ts';
import { CatalogRefresher } from './refresh.ts';
import { startResidualService } from './residual-setup.ts';
import type { ResidualOptions } from './residual-setup.ts';
import type { ResidualService } from './residual-stage.ts';
import type { Logger } from '@clarus/log/logger.ts';
import type { SplitService } from '../split/decide.ts';
import { prepareBackends, splitRecovery, splitService, withRemoteColumns } from '../split/setup.ts';
import { splitLayouts } from '../split/layout.ts';
import { loadConfig } from '../config/load.ts';
import { countAnalysis } from '../metrics/analyses.ts';

export interface ProtectionSetup {
  configDir: string;
  /** Audit log file (JSON lines, hash-chained); omitted = no audit file. */
  auditFile?: string;
  /** Rotate the audit file past this size (bytes); omitted = rotation is left to logrotate. */
  auditMaxBytes?: number;
  /** Keep at most this many rotated audit files (the oldest are deleted at each rotation). */
  auditMaxFiles?: number;
  /**
   * The in-proxy stage of two-stage statements (issue 10); omitted = statements that compute on
   * encrypted values are refused. Its engine starts with the first session of a protecting policy.
   */
  residual?: ResidualOptions;
  /** Where the master keys come from (needed for provider vaultTransit; default: the keyring files). */
  keys?: KeySource;
  log?: Logger;
  /**
   * Recovery of in-doubt transactions over split tables (issue 12): a participant prepared longer
   * than `graceSeconds` without a decision is rolled back; a pass runs every `everySeconds`.
   * false: another process runs it (a worker other than the first of a multi-process proxy).
   */
  splitRecovery?: { graceSeconds: number; everySeconds: number } | false;
}

export const SPLIT_RECOVERY_DEFAULTS = { graceSeconds: 60, everySeconds: 30 } as const;

export function rewriterFor(configDir: string, config: RuntimeConfig, major: Major = REWRITER_MAJOR, opts: { twoStage?: boolean; keys?: KeySource } = {}): KeyedRewriter {
  const keys = opts.keys;
  const ring = keys
    ? parseKeyring(config.policy.keyring.keys, keys.files(configDir, config), () => keys.unusable())
    : parseKeyring(config.policy.keyring.keys, readPlainKeyFiles(configDir, config));
  const l = config.limits;
  const testBase = testDatabaseBase(config);
  return new KeyedRewriter(new Catalog(config.policy, testBase === undefined ? {} : { testDatabaseBase: testBase }), new KeyDeriver(ring), {
    major,
    twoStage: opts.twoStage ?? false,
    onAnalysis: countAnalysis,
    ...(l.maxStatementBytes !== undefined ? { maxStatementBytes: l.maxStatementBytes } : {}),
    ...(l.analysisCacheBytes !== undefined ? { cacheBytes: l.analysisCacheBytes } : {}),
  });
}

/**
 * The grammar a session's statements are checked with: its backend's major version. A backend
 * whose major has no grammar here cannot be served while a policy protects data (fail closed).
 */
function sessionMajor(info: SessionInfo): Major {
  if (info.serverVersion === undefined) return REWRITER_MAJOR;
  const m = majorOf(info.serverVersion);
  if (m === null) throw new Error(`backend server_version ${info.serverVersion} has no matching grammar in this proxy (supported: ${SUPPORTED_MAJORS.join(', ')})`);
  return m;
}

/** The test (or maintenance) database a session is connected to (its own catalog), if it is one. */
function testDatabaseOf(config: RuntimeConfig, info: SessionInfo): string | undefined {
  const base = testDatabaseBase(config);
  const db = info.backendDatabase;
  return base !== undefined && db !== undefined && (isTestDatabaseOf(base, db) || info.maintenance === true) ? db : undefined;
}

/** The in-proxy stage with this configuration's bounds and idle stop (ClarusProxy limits.computeMax*, computeIdleSeconds; the process's otherwise). */
function withLimits(r: ResidualService, config: RuntimeConfig): ResidualService {
  const semantics = r.textSemantics && r.textSemanticsKnown ? { textSemantics: r.textSemantics, textSemanticsKnown: r.textSemanticsKnown } : {};
  return { run: (call) => r.run(call, config.limits.computeIdleSeconds), stats: r.stats, maxRows: config.limits.computeMaxRows ?? r.maxRows, maxBytes: config.limits.computeMaxBytes ?? r.maxBytes, ...semantics };
}

/**
 * Bound of the rows held until COMMIT: their flush INSERT is one statement, analysed within
 * limits.maxStatementBytes (64 KiB of it left for the INSERT's own text).
 */
function heldBound(maxStatementBytes: number | undefined): { heldMaxBytes?: number } {
  return maxStatementBytes === undefined ? {} : { heldMaxBytes: Math.max(maxStatementBytes - (64 << 10), maxStatementBytes >> 1) };
}

/** The pipeline factory for `startProxy({ pipeline })`; a policy with no datasets passes everything. */
export async function protectionPipeline(setup: ProtectionSetup): Promise<PipelineFactory> {
  await loadRewriterParser();
  const audit = setup.auditFile ? new AuditFile(setup.auditFile, { ...(setup.auditMaxBytes ? { maxBytes: setup.auditMaxBytes } : {}),
    ...(setup.auditMaxFiles ? { maxFiles: setup.auditMaxFiles } : {}) }) : undefined;
  const now = () => new Date();
  // One Rewriter (catalog, cache) per policy object, backend grammar and test database.
  const deps = new WeakMap<object, Map<string, ProtectionDeps>>();
  let residual: ResidualService | undefined;
  // Splitting: start-up checks and the recovery loop, once per policy object (restarted on reload).
  let splitPolicy = '';
  let recovery: ReturnType<typeof splitRecovery>;
  let backendsReady: Promise<unknown> = Promise.resolve();
  const startSplit = (config: RuntimeConfig): void => {
    const key = JSON.stringify([config.policy, config.backends]);
    if (splitPolicy === key) return;
    splitPolicy = key;
    recovery?.stop();
    const log = setup.log;
    backendsReady = prepareBackends(setup.configDir, config).then((problems) => {
      for (const p of problems) log?.error('split datasets cannot be served safely', { problem: p });
    }, (e: unknown) => log?.error('split datasets: backend checks failed', { error: e }));
    if (setup.splitRecovery === false) return;
    recovery = splitRecovery(setup.configDir, config, { ...(setup.splitRecovery ?? SPLIT_RECOVERY_DEFAULTS),
      ...(log ? { log: (level, message, fields) => (level === 'warn' ? log.warn(message, fields) : log.info(message, fields)) } : {}) });
  };
  // Recovery of in-doubt transactions runs from the start, not from the first session.
  try {
    const initial = loadConfig(setup.configDir).config;
    if (splitLayouts(initial.policy).size > 0) startSplit(initial);
  } catch {
    // An unreadable configuration is reported by the proxy's own start; the factory retries.
  }
  const shared: Shared = { setup, now, audit, startSplit, backendsReady: () => backendsReady };
  /** The in-proxy stage for this configuration (started on first use), or undefined when it does not compute. */
  const computing = (config: RuntimeConfig): ResidualService | undefined => {
    // ClarusProxy spec.limits.computeInProxy: false keeps the engine from starting for this configuration.
    if (setup.residual === undefined || config.limits.computeInProxy === false) return undefined;
    residual ??= startResidualService(setup.residual, backendSecrets(setup.configDir, config), config.limits.connectTimeoutSeconds * 1000);
    return residual;
  };
  const factory: PipelineFactory = (info, config) => {
    // A maintenance session keeps its guard (access/maintenance.ts) under a reload that protects nothing.
    if (config.policy.datasets.length === 0 && info.maintenance !== true) return passthroughPipeline;
    const active = computing(config);
    const major = sessionMajor(info);
    const test = testDatabaseOf(config, info);
    const perMajor = depsCache(deps, config);
    const key = test === undefined ? String(major) : `${major}/${test}`;
    let d = perMajor.get(key);
    if (!d) perMajor.set(key, (d = newDeps(shared, { config, major, test, residual: active })));
    return protectionPipelineFactory(d)(info, config);
  };
  // The session's backend grammar, loaded with the first session of its major (also under a policy
  // that protects nothing yet: a reload may protect data in this session). An unknown major is
  // refused by the factory itself.
  factory.ready = (info) => {
    const m = info.serverVersion === undefined ? REWRITER_MAJOR : majorOf(info.serverVersion);
    return m === null || grammarLoaded(m) ? undefined : loadGrammar(m);
  };
  return factory;
}

/** What the sessions' factory shares: the set-up, the clock, the audit file, the splitting start-up and its checks. */
interface Shared {
  setup: ProtectionSetup;
  now: () => Date;
  audit: AuditFile | undefined;
  startSplit: (config: RuntimeConfig) => void;
  /** The start-up checks of split backends now (restarted on reload). */
  backendsReady: () => Promise<unknown>;
}

/** What one ProtectionDeps is made for: the configuration, grammar, test database, and the in-proxy stage when it computes. */
interface DepsKey { config: RuntimeConfig; major: Major; test: string | undefined; residual: ResidualService | undefined }

/** The deps of one policy object, by grammar and test database. */
function depsCache(deps: WeakMap<object, Map<string, ProtectionDeps>>, config: RuntimeConfig): Map<string, ProtectionDeps> {
  let perMajor = deps.get(config.policy);
  if (!perMajor) deps.set(config.policy, (perMajor = new Map()));
  return perMajor;
}

/** One Rewriter (catalog, cache) with its catalog refresher, in-proxy stage and split service. */
function newDeps(sh: Shared, k: DepsKey): ProtectionDeps {
  const { setup, now, audit } = sh;
  const rewriter = rewriterFor(setup.configDir, k.config, k.major, { twoStage: k.residual !== undefined, ...(setup.keys ? { keys: setup.keys } : {}) });
  const onDb = k.test === undefined ? k.config : onTestDatabase(k.config, k.test);
  const refresher = refresherFor(setup.configDir, onDb, rewriter, now);
  const limited = k.residual ? withLimits(k.residual, k.config) : undefined;
  const split = splitFor(sh, k, refresher, limited);
  if (split) sh.startSplit(k.config);
  return { rewriter, now, ...(audit ? { audit: (e) => audit.append(e) } : {}), ...(refresher ? { refresher } : {}),
    ...(limited ? { residual: limited } : {}), ...(split ? { split } : {}), ...heldBound(k.config.limits.maxStatementBytes) };
}

/** Loads declared column types (and the proxy's views) from the backend of `onDb`, when it has one. */
function refresherFor(configDir: string, onDb: RuntimeConfig, rewriter: KeyedRewriter, now: () => Date): CatalogRefresher | undefined {
  const home = backendCatalogLoader(configDir, onDb);
  const loader = home ? withRemoteColumns(home, configDir, onDb) : undefined;
  const views = backendViewLoader(configDir, onDb);
  return loader ? new CatalogRefresher(rewriter, loader, now, views) : undefined;
}

/** The split service of a policy that places columns on several backends (undefined otherwise). */
function splitFor(sh: Shared, k: DepsKey, refresher: CatalogRefresher | undefined, limited: ResidualService | undefined): SplitService | undefined {
  const { setup, now } = sh;
  return splitService({
    configDir: setup.configDir, config: k.config, now,
    rewriterFor: (policy) => rewriterFor(setup.configDir, { ...k.config, policy }, k.major, setup.keys ? { keys: setup.keys } : {}),
    ...(limited ? { residual: limited } : {}),
    schemaChanged: () => refresher?.invalidate(),
    ready: sh.backendsReady,
    ...(setup.log ? { warn: (m: string, f?: Record<string, unknown>) => setup.log?.warn(m, f) } : {}),
  });
}
