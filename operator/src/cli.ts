// `clarus operator`: runs the controllers (leader only), the admission webhook and the metrics/health
// server (every replica). Configuration comes from flags; the cluster from in-cluster config or KUBECONFIG.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { CertStore } from './certs/store.ts';
import { Manager } from './controllers/manager.ts';
import { KubeClient } from './kube/client.ts';
import { LeaderElector } from './kube/lease.ts';
import { createLogger } from './log.ts';
import type { Level, Logger } from './log.ts';
import { createMetrics, startMetricsServer } from './metrics.ts';
import { renderProxy } from './render.ts';
import { startWebhookServer } from './webhook/server.ts';

const USAGE = `usage: clarus operator [options]
  --namespace NS               namespace of the lease and webhook Secret (default: own pod namespace, else clarus-system)
  --metrics-listen HOST:PORT   metrics, /healthz, /readyz (default 0.0.0.0:8080)
  --webhook-listen HOST:PORT   admission webhook over HTTPS (default 0.0.0.0:9443); --no-webhook disables it
  --webhook-config-name NAME   MutatingWebhookConfiguration whose caBundle is kept current (default clarus-sidecar-injector)
  --webhook-secret-name NAME   Secret holding the webhook CA and certificate (default clarus-webhook-tls)
  --webhook-dns NAME           DNS name in the webhook certificate (repeatable; default clarus-operator-webhook.<ns>.svc)
  --webhook-ip IP              IP address in the webhook certificate (repeatable)
  --no-leader-elect            reconcile without taking the Lease (single replica only)
  --lease-name NAME            Lease used for leader election (default clarus-operator)
  --lease-duration SECONDS     default 15
  --proxy-image IMAGE          proxy image when a ClarusProxy names none (default ghcr.io/clarus/clarus:0.1.0)
  --resync-seconds N           periodic full resync (default 300)
  --concurrency N              reconciles in flight per kind (default 4)
  --reachability-timeout-ms N  CloudBackend TCP check timeout; 0 disables it (default 0)
  --log-level LEVEL            debug | info | warn | error (default info)`;

const OPTIONS = {
  namespace: { type: 'string' },
  'metrics-listen': { type: 'string', default: '0.0.0.0:8080' },
  'webhook-listen': { type: 'string', default: '0.0.0.0:9443' },
  'no-webhook': { type: 'boolean', default: false },
  'webhook-config-name': { type: 'string', default: 'clarus-sidecar-injector' },
  'webhook-secret-name': { type: 'string', default: 'clarus-webhook-tls' },
  'webhook-dns': { type: 'string', multiple: true },
  'webhook-ip': { type: 'string', multiple: true },
  'no-leader-elect': { type: 'boolean', default: false },
  'lease-name': { type: 'string', default: 'clarus-operator' },
  'lease-duration': { type: 'string', default: '15' },
  'proxy-image': { type: 'string', default: 'ghcr.io/clarus/clarus:0.1.0' },
  'resync-seconds': { type: 'string', default: '300' },
  concurrency: { type: 'string', default: '4' },
  'reachability-timeout-ms': { type: 'string', default: '0' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

export function parseHostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  const port = Number(text.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid HOST:PORT: ${text}`);
  return { host: text.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

function positiveInt(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${text}`);
  return n;
}

function ownNamespace(flag: string | undefined): string {
  if (flag) return flag;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return process.env.POD_NAMESPACE ?? 'clarus-system';
  }
}

interface Running { stop: () => Promise<void> }

async function startWebhook(flags: Flags, ns: string, client: KubeClient, log: Logger, metrics: ReturnType<typeof createMetrics>,
  build: { defaultImage: string }): Promise<Running> {
  const listen = parseHostPort(flags['webhook-listen']);
  const store = new CertStore(client, {
    namespace: ns,
    secretName: flags['webhook-secret-name'],
    webhookConfigName: flags['webhook-config-name'] || undefined,
    dnsNames: flags['webhook-dns'] ?? [`clarus-operator-webhook.${ns}.svc`],
    ipAddresses: flags['webhook-ip'] ?? [],
    caValidDays: 365, servingValidDays: 90, renewBeforeDays: 30,
  }, log);
  const tls = await store.ensure();
  const server = await startWebhookServer({ client, options: build, log, metrics }, tls, listen.host, listen.port);
  // Re-check every hour; a rotated certificate is swapped in without dropping the listener.
  const timer = setInterval(() => {
    store.ensure().then((next) => server.setSecureContext({ cert: next.certPem, key: next.keyPem }),
      (error: unknown) => log.error('webhook certificate check failed', { error }));
  }, 3600_000);
  timer.unref();
  log.info('webhook listening', { ...listen });
  return { stop: () => new Promise<void>((resolve) => { clearInterval(timer); server.close(() => resolve()); }) };
}

async function run(flags: Flags): Promise<number> {
  const log = createLogger(flags['log-level'] as Level, { component: 'clarus-operator' });
  const ns = ownNamespace(flags.namespace);
  const client = KubeClient.fromEnvironment();
  const metrics = createMetrics();
  const build = { defaultImage: flags['proxy-image'] };
  const manager = new Manager({
    client, build, render: renderProxy, log, metrics,
    resyncMs: positiveInt('resync-seconds', flags['resync-seconds']) * 1000,
    concurrency: positiveInt('concurrency', flags.concurrency),
    reachabilityTimeoutMs: positiveInt('reachability-timeout-ms', flags['reachability-timeout-ms'], 0),
  });
  let webhookUp = flags['no-webhook'];
  const metricsListen = parseHostPort(flags['metrics-listen']);
  const metricsServer = await startMetricsServer(metrics, { live: () => true, ready: () => webhookUp }, metricsListen.host, metricsListen.port);
  const webhook = flags['no-webhook'] ? undefined : await startWebhook(flags, ns, client, log, metrics, build);
  webhookUp = true;

  let exitCode = 0;
  let stopSignal!: () => void;
  const done = new Promise<void>((resolve) => (stopSignal = resolve));
  process.once('SIGTERM', stopSignal);
  process.once('SIGINT', stopSignal);
  let elector: LeaderElector | undefined;
  if (flags['no-leader-elect']) {
    void manager.startControllers();
  } else {
    elector = new LeaderElector(client, {
      namespace: ns, name: flags['lease-name'], identity: `${os.hostname()}-${process.pid}`,
      leaseDurationSeconds: positiveInt('lease-duration', flags['lease-duration']), retryPeriodMs: 2000,
      onStartedLeading: () => { metrics.leader.set(1); void manager.startControllers(); },
      // Like client-go: a replica that lost the lease exits, so it never reconciles alongside the new leader.
      onStoppedLeading: () => { metrics.leader.set(0); exitCode = 1; stopSignal(); },
    }, log);
    void elector.run();
  }
  await done;
  elector?.stop();
  await elector?.release().catch(() => undefined);
  log.info('shutting down');
  manager.stop();
  await webhook?.stop();
  await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
  return exitCode;
}

export async function main(argv: string[]): Promise<number> {
  let flags: Flags;
  try {
    flags = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false }).values;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    return await run(flags);
  } catch (error) {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'operator failed', error: error instanceof Error ? error.message : String(error) })}\n`);
    return 1;
  }
}
