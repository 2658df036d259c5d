// Operator settings from command-line flags, falling back to CLARUS_* environment variables (what the
// Helm chart sets) and then to defaults. Pure: argv and env are passed in.
import { parseArgs } from 'node:util';
import type { Level } from './log.ts';

export interface HostPort { host: string; port: number }

export interface WebhookSettings {
  listen: HostPort;
  path: string;
  /** MutatingWebhookConfiguration whose caBundle the operator keeps current ('' = none). */
  configName: string;
  secretName: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** operator: generate and rotate the certificate; cert-manager: only read the Secret it maintains. */
  certMode: 'operator' | 'cert-manager';
}

export interface Settings {
  namespace: string;
  identity: string;
  logLevel: Level;
  watchNamespaces: string[];
  leaderElection: boolean;
  leaseName: string;
  leaseDurationSeconds: number;
  metricsListen: HostPort;
  proxyImage: string;
  proxyImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  webhook?: WebhookSettings;
  resyncSeconds: number;
  concurrency: number;
  reachabilityTimeoutMs: number;
}

export const USAGE = `usage: clarus operator [options]   (each option also reads the CLARUS_* variable in brackets)
  --namespace NS               namespace of the Lease and webhook Secret [CLARUS_NAMESPACE] (default: own pod namespace)
  --identity NAME              leader-election identity [CLARUS_POD_NAME] (default: host name and pid)
  --watch-namespace NS         reconcile only these namespaces, repeatable [CLARUS_WATCH_NAMESPACES, comma-separated] (default: all)
  --metrics-listen HOST:PORT   /metrics, /healthz, /readyz [CLARUS_METRICS_LISTEN] (default 0.0.0.0:8080)
  --webhook-listen HOST:PORT   serve the admission webhook over HTTPS [CLARUS_WEBHOOK_LISTEN] (default: no webhook)
  --webhook-path PATH          [CLARUS_WEBHOOK_PATH] (default /mutate-v1-pod)
  --webhook-config-name NAME   MutatingWebhookConfiguration to keep the caBundle of [CLARUS_WEBHOOK_CONFIGURATION]
  --webhook-secret-name NAME   Secret with the webhook CA and certificate [CLARUS_WEBHOOK_CERT_SECRET] (default clarus-webhook-tls)
  --webhook-service NAME       Service in front of the webhook; its DNS names go into the certificate [CLARUS_WEBHOOK_SERVICE]
  --webhook-dns NAME           extra DNS name in the certificate (repeatable)
  --webhook-ip IP              IP address in the certificate (repeatable)
  --webhook-cert-mode MODE     operator | cert-manager [CLARUS_WEBHOOK_CERT_MODE] (default operator)
  --leader-elect BOOL          true | false [CLARUS_LEADER_ELECTION] (default true)
  --lease-name NAME            [CLARUS_LEADER_ELECTION_LEASE] (default clarus-operator)
  --lease-duration SECONDS     (default 15)
  --proxy-image IMAGE          image of proxies that name none [CLARUS_PROXY_IMAGE] (default ghcr.io/clarus/clarus:0.1.0)
  --proxy-image-pull-policy P  [CLARUS_PROXY_IMAGE_PULL_POLICY] (default IfNotPresent)
  --resync-seconds N           periodic full resync (default 300)
  --concurrency N              reconciles in flight per kind (default 4)
  --reachability-timeout-ms N  CloudBackend TCP check timeout; 0 disables it (default 0)
  --log-level LEVEL            debug | info | warn | error [CLARUS_LOG_LEVEL] (default info)`;

const OPTIONS = {
  namespace: { type: 'string' },
  identity: { type: 'string' },
  'watch-namespace': { type: 'string', multiple: true },
  'metrics-listen': { type: 'string' },
  'webhook-listen': { type: 'string' },
  'webhook-path': { type: 'string' },
  'webhook-config-name': { type: 'string' },
  'webhook-secret-name': { type: 'string' },
  'webhook-service': { type: 'string' },
  'webhook-dns': { type: 'string', multiple: true },
  'webhook-ip': { type: 'string', multiple: true },
  'webhook-cert-mode': { type: 'string' },
  'leader-elect': { type: 'string' },
  'lease-name': { type: 'string' },
  'lease-duration': { type: 'string' },
  'proxy-image': { type: 'string' },
  'proxy-image-pull-policy': { type: 'string' },
  'resync-seconds': { type: 'string' },
  concurrency: { type: 'string' },
  'reachability-timeout-ms': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseHostPort(text: string): HostPort {
  const i = text.lastIndexOf(':');
  const port = Number(text.slice(i + 1));
  if (i < 0 || text.slice(i + 1) === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid HOST:PORT: ${text}`);
  return { host: text.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

function int(name: string, text: string, min: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${text}`);
  return n;
}

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got ${text}`);
  return text as T;
}

const list = (text: string | undefined): string[] => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export type Parsed = { help: true } | { help: false; settings: Settings };

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
export interface Defaults { namespace: string; identity: string }

type StringFlag = Exclude<{ [K in keyof Values]-?: Values[K] extends string | undefined ? K : never }[keyof Values], undefined>;

/** Flag, else environment variable, else default: the one precedence rule for every setting. */
function picker(v: Values, env: NodeJS.ProcessEnv) {
  return (flag: StringFlag, envVar: string | undefined, fallback: string): string =>
    (v[flag] as string | undefined) ?? (envVar ? env[envVar] : undefined) ?? fallback;
}

function webhookSettings(v: Values, env: NodeJS.ProcessEnv, namespace: string): WebhookSettings | undefined {
  const pick = picker(v, env);
  const listen = pick('webhook-listen', 'CLARUS_WEBHOOK_LISTEN', '');
  if (!listen) return undefined;
  const service = pick('webhook-service', 'CLARUS_WEBHOOK_SERVICE', '');
  const serviceNames = service ? [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service] : [];
  const webhook: WebhookSettings = {
    listen: parseHostPort(listen),
    path: pick('webhook-path', 'CLARUS_WEBHOOK_PATH', '/mutate-v1-pod'),
    configName: pick('webhook-config-name', 'CLARUS_WEBHOOK_CONFIGURATION', ''),
    secretName: pick('webhook-secret-name', 'CLARUS_WEBHOOK_CERT_SECRET', 'clarus-webhook-tls'),
    dnsNames: [...serviceNames, ...(v['webhook-dns'] ?? [])],
    ipAddresses: v['webhook-ip'] ?? [],
    certMode: oneOf('webhook-cert-mode', pick('webhook-cert-mode', 'CLARUS_WEBHOOK_CERT_MODE', 'operator'), ['operator', 'cert-manager'] as const),
  };
  if (webhook.dnsNames.length === 0 && webhook.ipAddresses.length === 0) {
    throw new Error('the webhook certificate needs a name: give --webhook-service, --webhook-dns or --webhook-ip');
  }
  return webhook;
}

/** Throws with a message naming the option when a value is invalid. */
export function parseSettings(argv: string[], env: NodeJS.ProcessEnv, defaults: Defaults): Parsed {
  const v = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false }).values;
  if (v.help) return { help: true };
  const pick = picker(v, env);
  const namespace = pick('namespace', 'CLARUS_NAMESPACE', defaults.namespace);
  const webhook = webhookSettings(v, env, namespace);
  return {
    help: false,
    settings: {
      namespace,
      identity: pick('identity', 'CLARUS_POD_NAME', defaults.identity),
      logLevel: oneOf('log-level', pick('log-level', 'CLARUS_LOG_LEVEL', 'info'), ['debug', 'info', 'warn', 'error'] as const),
      watchNamespaces: v['watch-namespace'] ?? list(env.CLARUS_WATCH_NAMESPACES),
      leaderElection: oneOf('leader-elect', pick('leader-elect', 'CLARUS_LEADER_ELECTION', 'true'), ['true', 'false'] as const) === 'true',
      leaseName: pick('lease-name', 'CLARUS_LEADER_ELECTION_LEASE', 'clarus-operator'),
      leaseDurationSeconds: int('lease-duration', pick('lease-duration', undefined, '15'), 5),
      metricsListen: parseHostPort(pick('metrics-listen', 'CLARUS_METRICS_LISTEN', '0.0.0.0:8080')),
      proxyImage: pick('proxy-image', 'CLARUS_PROXY_IMAGE', 'ghcr.io/clarus/clarus:0.1.0'),
      proxyImagePullPolicy: oneOf('proxy-image-pull-policy', pick('proxy-image-pull-policy', 'CLARUS_PROXY_IMAGE_PULL_POLICY', 'IfNotPresent'),
        ['Always', 'IfNotPresent', 'Never'] as const),
      ...(webhook ? { webhook } : {}),
      resyncSeconds: int('resync-seconds', pick('resync-seconds', undefined, '300'), 1),
      concurrency: int('concurrency', pick('concurrency', undefined, '4'), 1),
      reachabilityTimeoutMs: int('reachability-timeout-ms', pick('reachability-timeout-ms', undefined, '0'), 0),
    },
  };
}
