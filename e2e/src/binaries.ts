// Where e2e/setup.sh put the control-plane binaries: ${CLARUS_CACHE:-~/.cache/clarus}/<tool>-<version>/bin.
// The versions come from e2e/go/versions.env, the one file setup.sh also reads.
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  helm: string;
  /** kwok's stage manifests (node and pod lifecycles), copied there by setup.sh. */
  kwokStages: string[];
}

/** The repository's `clarus` executable (operator, proxy, policy tools), for cp.spawn(). */
export const clarusBin = new URL('../../cli/bin/clarus', import.meta.url).pathname;

export const versionsFile = new URL('../go/versions.env', import.meta.url).pathname;

/** Parses KEY=VALUE lines (comments and blank lines ignored). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(\S*)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

export function toolVersions(): Record<string, string> {
  return parseEnvFile(readFileSync(versionsFile, 'utf8'));
}

function cacheRoot(env: NodeJS.ProcessEnv): string {
  return env.CLARUS_CACHE ?? join(homedir(), '.cache', 'clarus');
}

const kwokStageFiles = ['node-initialize.yaml', 'node-heartbeat-with-lease.yaml', 'pod-ready.yaml',
  'pod-complete.yaml', 'pod-delete.yaml'];

function binary(root: string, tool: string, version: string | undefined, name: string): string {
  if (!version) throw new Error(`e2e/go/versions.env has no version for ${tool}`);
  const path = join(root, `${tool}-${version}`, 'bin', name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing: run \`make e2e-setup\` (e2e/setup.sh) to build the control plane`);
  }
  return path;
}

/** Only helm, for tests that render the chart without a cluster. */
export function findHelm(env: NodeJS.ProcessEnv = process.env): string {
  return binary(cacheRoot(env), 'helm', toolVersions().HELM_VERSION, 'helm');
}

/** Resolves every binary and fails with a clear message when one is missing. */
export function findBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const v = toolVersions();
  const root = cacheRoot(env);
  const kube = (name: string): string => binary(root, 'kubernetes', v.KUBERNETES_VERSION, name);
  return {
    etcd: binary(root, 'etcd', v.ETCD_VERSION, 'etcd'),
    kubeApiserver: kube('kube-apiserver'),
    kubeControllerManager: kube('kube-controller-manager'),
    kubeScheduler: kube('kube-scheduler'),
    kwok: binary(root, 'kwok', v.KWOK_VERSION, 'kwok'),
    helm: findHelm(env),
    kwokStages: kwokStageFiles.map((f) => join(root, `kwok-${v.KWOK_VERSION}`, 'stages', f)),
  };
}
