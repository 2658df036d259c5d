// Starts the Clarus proxy (`cli/bin/clarus proxy`, a separate process like in production) in front of a
// test cluster, from a runtime configuration directory written by the sidecar's test harness.
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import type { PgCluster } from './pg.ts';
import { ProxyUnavailable, type Endpoint, type ProxyHandle } from './endpoint.ts';

export interface ClarusOptions {
  /** TLS between clients and the proxy (verify-full against the test CA); plaintext refused. */
  clientTls: boolean;
  /** TLS mode from the proxy to the backend. */
  backendTls: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  /** Backend connections the proxy may open (one per client session). */
  backendConnections: number;
  maxClientConnections: number;
  /** Backend credentials (default: the harness's, the cluster superuser). */
  backendUser?: string;
  backendPassword?: string;
  /** Last word on the runtime configuration before the proxy starts (e.g. a benchmark's policy). */
  configure?: (config: RuntimeConfig) => void;
  /** Extra environment for the proxy process (e.g. NODE_OPTIONS=--cpu-prof). */
  env?: Record<string, string>;
}

const DEFAULTS: ClarusOptions = { clientTls: true, backendTls: 'verify-full', backendConnections: 100, maxClientConnections: 200 };

type Harness = typeof import('./proxy.ts');

async function loadHarness(): Promise<Harness> {
  try {
    return await import('./proxy.ts');
  } catch (e) {
    throw new ProxyUnavailable(`cannot load the proxy test harness: ${(e as Error).message}`);
  }
}

export async function startClarus(pg: PgCluster, caFile: string, opts: Partial<ClarusOptions> = {}): Promise<ProxyHandle> {
  const o = { ...DEFAULTS, ...opts };
  const h = await loadHarness();
  const cfg = h.writeProxyConfig({
    backends: [{ cluster: pg, tls: o.backendTls, maxConnections: o.backendConnections, user: o.backendUser, password: o.backendPassword }],
    tls: o.clientTls ? { allowPlaintext: false } : undefined,
    limits: { maxConnections: o.maxClientConnections },
  });
  if (o.configure) {
    o.configure(cfg.config);
    cfg.write(cfg.config);
  }
  let proc: Awaited<ReturnType<Harness['startProxyProcess']>>;
  try {
    proc = await h.startProxyProcess(cfg.dir, [], o.env ?? {});
  } catch (e) {
    cfg.destroy();
    throw new ProxyUnavailable(`cli/bin/clarus proxy did not start: ${(e as Error).message}`);
  }
  const endpoint: Endpoint = {
    host: proc.host, port: proc.port, database: 'postgres',
    user: h.DEFAULT_USER.name, password: h.DEFAULT_USER.password,
    sslmode: o.clientTls ? 'verify-full' : 'disable', caFile: o.clientTls ? caFile : undefined,
  };
  return {
    endpoint, pid: proc.child.pid,
    stop: async () => { await proc.close(); cfg.destroy(); },
  };
}
