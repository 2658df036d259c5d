// Starts the Clarus proxy in front of a test cluster, through the sidecar's test harness.
import type { PgCluster } from '../../sidecar/test/harness/pg.ts';
import { ProxyUnavailable, type ProxyHandle } from './endpoint.ts';

export async function startClarus(_pg: PgCluster, _caFile: string): Promise<ProxyHandle> {
  throw new ProxyUnavailable('sidecar/test/harness/proxy.ts has not landed yet');
}
