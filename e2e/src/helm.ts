// Runs the helm binary built by e2e/setup.sh, with its state kept in a private folder and the
// control plane's kubeconfig, so it never reads or writes the user's ~/.config/helm or ~/.kube.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RunResult { code: number; stdout: string; stderr: string }

/** The chart in this repository. */
export const chartDir = new URL('../../charts/clarus-operator', import.meta.url).pathname;

export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv,
  timeoutMs = 300_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && !stdout ? err.message : '') });
    });
  });
}

export interface Helm {
  /** `helm <args>`; resolves with the exit code and output, whatever the code. */
  run(args: string[]): Promise<RunResult>;
  /** Same, but throws with helm's stderr when it fails. */
  ok(args: string[]): Promise<string>;
}

export function makeHelm(helmBinary: string, stateDir: string, kubeconfigPath?: string): Helm {
  mkdirSync(stateDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: stateDir,
    HELM_CACHE_HOME: join(stateDir, 'cache'),
    HELM_CONFIG_HOME: join(stateDir, 'config'),
    HELM_DATA_HOME: join(stateDir, 'data'),
    ...(kubeconfigPath ? { KUBECONFIG: kubeconfigPath } : {}),
  };
  const run = (args: string[]): Promise<RunResult> => runCommand(helmBinary, args, env);
  return {
    run,
    async ok(args) {
      const res = await run(args);
      if (res.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${res.code}):\n${res.stderr}${res.stdout}`);
      return res.stdout;
    },
  };
}
