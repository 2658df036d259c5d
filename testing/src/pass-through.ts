// One PostgreSQL cluster and one proxy child process in front of it with no policy: the set-up of
// the tests of the proxy's socket and protocol layer (backpressure, stalling clients, real
// clients, workers).
import { startPostgres } from './pg.ts';
import type { PgCluster } from './pg.ts';
import { startProxyProcess, writeProxyConfig } from './proxy.ts';
import type { ProxyConfigDir, ProxyProcess } from './proxy.ts';

export interface PassThrough {
  cluster: PgCluster;
  cfg: ProxyConfigDir;
  proxy: ProxyProcess;
  /** Stops the proxy, then the cluster, and removes the configuration directory. */
  close(): Promise<void>;
}

/** `args` and `env` are passed to `clarus proxy` (e.g. ['--workers', '2']). */
export async function startPassThrough(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<PassThrough> {
  const cluster = await startPostgres();
  const cfg = writeProxyConfig({ backends: [{ cluster }] });
  let proxy: ProxyProcess;
  try {
    proxy = await startProxyProcess(cfg.dir, args, env);
  } catch (e) {
    await cluster.destroy();
    cfg.destroy();
    throw e;
  }
  return {
    cluster, cfg, proxy,
    close: async () => {
      await proxy.close();
      await cluster.destroy();
      cfg.destroy();
    },
  };
}
