// A loopback-only egress guard for the API server. Everything the API server dials "into the
// cluster" or to URLs (webhooks by Service or URL, service proxy, kubelet) goes through this HTTP
// CONNECT proxy on a unix socket (an EgressSelectorConfiguration). A Service's ClusterIP here is a
// made-up 10.0.0.x address with nothing behind it, so such dials must never reach the network:
// the guard tunnels loopback targets only and refuses the rest, recording them for the tests.
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface EgressGuard {
  readonly socketPath: string;
  /** host:port targets refused so far (anything not on loopback). */
  readonly refused: string[];
  /** host:port loopback targets tunnelled so far. */
  readonly tunnelled: string[];
  close(): Promise<void>;
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** "host:port" → [host, port] when the host is a loopback address; undefined otherwise. */
export function loopbackTarget(authority: string): [string, number] | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(authority);
  if (!m?.[1] || !m[2]) return undefined;
  const host = m[1];
  const port = Number(m[2]);
  if (!loopbackHosts.has(host) || port < 1 || port > 65535) return undefined;
  return [host.replace(/^\[|\]$/g, ''), port];
}

/** The apiserver's EgressSelectorConfiguration: cluster and control-plane traffic via the guard. */
export function egressSelectorConfig(socketPath: string): string {
  const viaGuard = { proxyProtocol: 'HTTPConnect', transport: { uds: { udsName: socketPath } } };
  return JSON.stringify({
    apiVersion: 'apiserver.k8s.io/v1beta1',
    kind: 'EgressSelectorConfiguration',
    egressSelections: [
      { name: 'cluster', connection: viaGuard },
      { name: 'controlplane', connection: viaGuard },
      { name: 'etcd', connection: { proxyProtocol: 'Direct' } },
    ],
  }, null, 2);
}

export function startEgressGuard(socketPath: string): Promise<EgressGuard> {
  const refused: string[] = [];
  const tunnelled: string[] = [];
  const tunnels = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    res.writeHead(405).end('CONNECT only\n');
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const authority = req.url ?? '';
    tunnels.add(client);
    client.on('close', () => tunnels.delete(client));
    const target = loopbackTarget(authority);
    if (!target) {
      refused.push(authority);
      client.end(`HTTP/1.1 403 Forbidden\r\n\r\ne2e egress guard: ${authority} is not on loopback\n`);
      return;
    }
    tunnelled.push(authority);
    const upstream = connect(target[1], target[0], () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve({
      socketPath,
      refused,
      tunnelled,
      close: () => new Promise<void>((done) => {
        server.closeAllConnections();
        for (const t of tunnels) t.destroy();
        server.close(() => done());
      }),
    }));
  });
}
