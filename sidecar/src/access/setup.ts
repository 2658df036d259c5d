// I/O shell of the protection pipeline: loads the parser (wasm), reads the keyring files named by
// the runtime configuration, opens the audit log, wires the backend catalog loader, and returns
// the PipelineFactory to give startProxy. One Rewriter (catalog + cache) per policy object: a reloaded configuration gets a
// fresh one, sessions keep the one they started with.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeConfig } from '../../../crds/src/runtime/config.ts';
import { KeyDeriver } from '../protection/encryption/derive.ts';
import { parseKeyring } from '../protection/encryption/keyring.ts';
import { Catalog } from '../rewrite/catalog.ts';
import { loadParser } from '../rewrite/parser.ts';
import { Rewriter } from '../rewrite/rewriter.ts';
import type { PipelineFactory } from '../session/pipeline.ts';
import { passthroughPipeline } from '../session/pipeline.ts';
import { AuditFile } from './audit-file.ts';
import { backendCatalogLoader } from './catalog-loader.ts';
import { protectionPipelineFactory } from './pipeline.ts';
import type { ProtectionDeps } from './pipeline.ts';
import { CatalogRefresher } from './refresh.ts';

export interface ProtectionSetup {
  configDir: string;
  /** Audit log file (JSON lines, hash-chained); omitted = no audit file. */
  auditFile?: string;
}

export function readKeyFiles(configDir: string, config: RuntimeConfig): Map<string, string> {
  const dir = join(configDir, config.policy.keyring.dir);
  const files = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const n of names) if (/\.v\d+$/.test(n)) files.set(n, readFileSync(join(dir, n), 'utf8'));
  return files;
}

export function rewriterFor(configDir: string, config: RuntimeConfig): Rewriter {
  const ring = parseKeyring(config.policy.keyring.keys, readKeyFiles(configDir, config));
  return new Rewriter(new Catalog(config.policy), new KeyDeriver(ring));
}

/** The pipeline factory for `startProxy({ pipeline })`; a policy with no datasets passes everything. */
export async function protectionPipeline(setup: ProtectionSetup): Promise<PipelineFactory> {
  await loadParser();
  const audit = setup.auditFile ? new AuditFile(setup.auditFile) : undefined;
  const now = () => new Date();
  const deps = new WeakMap<object, ProtectionDeps>();
  return (info, config) => {
    if (config.policy.datasets.length === 0) return passthroughPipeline;
    let d = deps.get(config.policy);
    if (!d) {
      const rewriter = rewriterFor(setup.configDir, config);
      const loader = backendCatalogLoader(setup.configDir, config);
      d = { rewriter, now, ...(audit ? { audit: (e) => audit.append(e) } : {}), ...(loader ? { refresher: new CatalogRefresher(rewriter, loader, now) } : {}) };
      deps.set(config.policy, d);
    }
    return protectionPipelineFactory(d)(info, config);
  };
}
