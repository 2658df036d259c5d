// The metrics listener: /metrics (Prometheus text), /healthz (process alive), /readyz (accepting
// connections: not draining, configuration loaded), and POST routes such as /peer/cancel.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import type { Registry } from 'prom-client';

/** Reads a POST body of at most 1 KiB (the routes take small requests); null past that. */
export function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1024) { resolve(null); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
  });
}

/** A POST route of the metrics listener: body and headers in, HTTP status out. */
export type PostRoute = (body: string, headers: IncomingHttpHeaders) => Promise<number>;

/** What /metrics serves: a prom-client Registry, or the workers' registries summed (workers.ts). */
export type MetricsSource = Pick<Registry, 'contentType'> & { metrics(): Promise<string> };

export function metricsServer(registry: MetricsSource, ready: () => boolean, posts: Record<string, PostRoute> = {}): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const post = posts[path];
    if (post && req.method === 'POST') {
      readBody(req).then((body) => (body === null ? 413 : post(body, req.headers)), () => 500)
        .then((status) => { res.writeHead(status, { 'content-type': 'text/plain' }); res.end(); }, () => { res.writeHead(500); res.end(); });
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
      }, (e: unknown) => { res.writeHead(500); res.end(String(e)); });
      return;
    }
    if (path === '/healthz') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok\n'); return; }
    if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : 'not ready\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
}
