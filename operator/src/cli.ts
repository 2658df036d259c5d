// `clarus operator`: runs the controllers (leader only), the admission webhook and the metrics/health
// server (every replica). Settings come from flags or CLARUS_* variables (settings.ts); the cluster
// from in-cluster config or KUBECONFIG.
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import type { CertSource } from './certs/store.ts';
import { CertStore, SecretCertSource } from './certs/store.ts';
import { Manager } from './controllers/manager.ts';
import { KubeClient } from './kube/client.ts';
import { sleep } from './kube/informer.ts';
import { LeaderElector } from './kube/lease.ts';
import { createLogger } from './log.ts';
import type { Logger } from './log.ts';
import { createMetrics, startMetricsServer } from './metrics.ts';
import type { OperatorMetrics } from './metrics.ts';
import { renderProxy } from './render.ts';
import { USAGE, parseSettings } from './settings.ts';
import type { Settings, WebhookSettings } from './settings.ts';
import type { BuildOptions } from './specs/types.ts';
import { startWebhookServer } from './webhook/server.ts';

export { parseHostPort } from './settings.ts';

const CERT_CHECK_MS = 3600_000;

function podNamespace(): string {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return 'clarus-system';
  }
}

interface WebhookDeps { client: KubeClient; log: Logger; metrics: OperatorMetrics; build: BuildOptions; namespace: string }

function certSource(w: WebhookSettings, d: WebhookDeps): CertSource {
  if (w.certMode === 'cert-manager') return new SecretCertSource(d.client, d.namespace, w.secretName);
  return new CertStore(d.client, {
    namespace: d.namespace, secretName: w.secretName, webhookConfigName: w.configName || undefined,
    dnsNames: w.dnsNames, ipAddresses: w.ipAddresses, caValidDays: 365, servingValidDays: 90, renewBeforeDays: 30,
  }, d.log);
}

/** Retries until a certificate is available (cert-manager may not have issued it yet). */
async function firstCertificate(source: CertSource, log: Logger, signal: AbortSignal): Promise<Awaited<ReturnType<CertSource['ensure']>> | undefined> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await source.ensure();
    } catch (error) {
      log.warn('webhook certificate not available yet', { error, attempt });
      await sleep(Math.min(30_000, 1000 * attempt), signal);
    }
  }
  return undefined;
}

async function startWebhook(w: WebhookSettings, d: WebhookDeps, signal: AbortSignal): Promise<https.Server | undefined> {
  const source = certSource(w, d);
  const tls = await firstCertificate(source, d.log, signal);
  if (!tls) return undefined;
  const server = await startWebhookServer({ client: d.client, options: d.build, log: d.log, metrics: d.metrics }, tls, { ...w.listen, path: w.path });
  // Re-check regularly; a rotated certificate is swapped in without dropping the listener.
  const timer = setInterval(() => {
    source.ensure().then((next) => server.setSecureContext({ cert: next.certPem, key: next.keyPem }),
      (error: unknown) => d.log.error('webhook certificate check failed', { error }));
  }, CERT_CHECK_MS);
  timer.unref();
  server.once('close', () => clearInterval(timer));
  d.log.info('webhook listening', { ...w.listen, path: w.path });
  return server;
}

interface ElectorDeps { client: KubeClient; manager: Manager; metrics: OperatorMetrics; log: Logger }

function elector(s: Settings, { client, manager, metrics, log }: ElectorDeps, onLost: () => void): LeaderElector {
  return new LeaderElector(client, {
    namespace: s.namespace, name: s.leaseName, identity: s.identity,
    leaseDurationSeconds: s.leaseDurationSeconds, retryPeriodMs: 2000,
    onStartedLeading: () => { metrics.leader.set(1); void manager.startControllers(); },
    onStoppedLeading: () => { metrics.leader.set(0); onLost(); },
  }, log);
}

/** Starts the webhook server when configured; `server` is set once it listens (readiness waits for it). */
function webhookServer(s: Settings, deps: Parameters<typeof startWebhook>[1], stopping: AbortController): { server: https.Server | undefined } {
  const holder: { server: https.Server | undefined } = { server: undefined };
  if (!s.webhook) return holder;
  void startWebhook(s.webhook, deps, stopping.signal)
    .then((server) => { holder.server = server; }, (error: unknown) => { deps.log.error('webhook failed to start', { error }); stopping.abort(); });
  return holder;
}

async function run(s: Settings): Promise<number> {
  const log = createLogger(s.logLevel, { component: 'clarus-operator' });
  const client = KubeClient.fromEnvironment();
  const metrics = createMetrics();
  const build: BuildOptions = { defaultImage: s.proxyImage, imagePullPolicy: s.proxyImagePullPolicy };
  const manager = new Manager({
    client, build, render: renderProxy, log, metrics, namespaces: s.watchNamespaces,
    resyncMs: s.resyncSeconds * 1000, concurrency: s.concurrency, reachabilityTimeoutMs: s.reachabilityTimeoutMs,
  });
  const stopping = new AbortController();
  const webhook = webhookServer(s, { client, log, metrics, build, namespace: s.namespace }, stopping);
  const metricsServer = await startMetricsServer(metrics, { live: () => true, ready: () => !s.webhook || webhook.server !== undefined }, s.metricsListen.host, s.metricsListen.port);
  let exitCode = 0;
  process.once('SIGTERM', () => stopping.abort());
  process.once('SIGINT', () => stopping.abort());
  // Like client-go: a replica that lost the lease exits, so it never reconciles next to the new leader.
  const lease = s.leaderElection ? elector(s, { client, manager, metrics, log }, () => { exitCode = 1; stopping.abort(); }) : undefined;
  if (lease) void lease.run();
  else void manager.startControllers();
  await new Promise((resolve) => stopping.signal.addEventListener('abort', resolve, { once: true }));
  log.info('shutting down');
  lease?.stop();
  await lease?.release().catch(() => undefined);
  manager.stop();
  await Promise.all([webhook.server, metricsServer].map((srv) => new Promise((resolve) => (srv ? srv.close(resolve) : resolve(undefined)))));
  return exitCode;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseSettings>;
  try {
    parsed = parseSettings(argv, process.env, { namespace: podNamespace(), identity: `${os.hostname()}-${process.pid}` });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    return await run(parsed.settings);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'operator failed', error: message })}\n`);
    return 1;
  }
}
