// Operator metrics (prom-client) and the health endpoints, served on one HTTP port.
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'kind' | 'outcome'>;
  duration: Histogram<'kind'>;
  errors: Counter<'kind'>;
  queueDepth: Gauge<'kind'>;
  leader: Gauge;
  webhookRequests: Counter<'outcome'>;
}

export function createMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'clarus_operator_' });
  return {
    registry,
    reconciles: new Counter({ name: 'clarus_operator_reconciles_total', help: 'Reconciles by kind and outcome',
      labelNames: ['kind', 'outcome'], registers: [registry] }),
    duration: new Histogram({ name: 'clarus_operator_reconcile_duration_seconds', help: 'Reconcile duration',
      labelNames: ['kind'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    errors: new Counter({ name: 'clarus_operator_reconcile_errors_total', help: 'Reconciles that failed and were retried',
      labelNames: ['kind'], registers: [registry] }),
    queueDepth: new Gauge({ name: 'clarus_operator_queue_depth', help: 'Keys waiting in the work queue',
      labelNames: ['kind'], registers: [registry] }),
    leader: new Gauge({ name: 'clarus_operator_leader', help: '1 while this replica holds the leader lease',
      registers: [registry] }),
    webhookRequests: new Counter({ name: 'clarus_operator_webhook_requests_total', help: 'Admission reviews by outcome',
      labelNames: ['outcome'], registers: [registry] }),
  };
}

export interface HealthChecks { live: () => boolean; ready: () => boolean }

export function startMetricsServer(metrics: OperatorMetrics, checks: HealthChecks, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    void handle(req.url ?? '/', metrics, checks).then(({ status, type, body }) => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function handle(url: string, metrics: OperatorMetrics, checks: HealthChecks):
  Promise<{ status: number; type: string; body: string }> {
  const path = url.split('?')[0];
  if (path === '/metrics') return { status: 200, type: metrics.registry.contentType, body: await metrics.registry.metrics() };
  if (path === '/healthz') return checks.live() ? ok() : fail();
  if (path === '/readyz') return checks.ready() ? ok() : fail();
  return { status: 404, type: 'text/plain', body: 'not found\n' };
}

const ok = (): { status: number; type: string; body: string } => ({ status: 200, type: 'text/plain', body: 'ok\n' });
const fail = (): { status: number; type: string; body: string } => ({ status: 503, type: 'text/plain', body: 'not ready\n' });
