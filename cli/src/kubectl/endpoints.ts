// Where `kubectl clarus status` finds each proxy's metrics endpoint, and what it reads there. Pure:
// cluster objects and Prometheus text in, endpoints and table rows out (scrape.ts fetches).
//   Deployment mode: the addresses of the headless `<proxy>-peers` Service the operator made for
//   cancel forwarding (its EndpointSlices list every pod, ready or not, with the metrics port).
//   Sidecar mode: the pods the webhook injected (label clarus.io/inject=<proxy>) at their pod IP
//   and the proxy's metrics port.
import type { ClarusProxy } from '@clarus/crds/types.ts';
import { formatTable } from '../explain/table.ts';
import { metricSum } from './report.ts';

export const DEFAULT_METRICS_PORT = 9187;
export const peersService = (proxy: string): string => `${proxy}-peers`;
export const INJECT_LABEL = 'clarus.io/inject';

export interface EndpointSlice {
  endpoints?: Array<{ addresses?: string[]; targetRef?: { kind?: string; name?: string } }>;
  ports?: Array<{ name?: string; port?: number }>;
}
export interface Pod { metadata: { name: string }; status?: { podIP?: string } }

/** One metrics endpoint of one proxy: the pod (or the URL given), its base URL, and the hash the operator rendered last. */
export interface MetricsEndpoint { proxy: string; name: string; url: string; rendered?: string }

const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

function ofSlice(proxy: string, s: EndpointSlice): MetricsEndpoint[] {
  const port = s.ports?.find((p) => p.name === 'metrics')?.port;
  if (port === undefined) return [];
  return (s.endpoints ?? []).flatMap((e) => {
    const ip = e.addresses?.[0];
    return ip === undefined ? [] : [{ proxy, name: e.targetRef?.name ?? ip, url: `http://${hostPort(ip, port)}` }];
  });
}

export function sliceEndpoints(proxy: string, slices: EndpointSlice[]): MetricsEndpoint[] {
  return slices.flatMap((s) => ofSlice(proxy, s)).sort((a, b) => a.name.localeCompare(b.name));
}

export function podEndpoints(proxy: ClarusProxy, pods: Pod[]): MetricsEndpoint[] {
  const port = proxy.spec.metrics?.port ?? DEFAULT_METRICS_PORT;
  return pods.flatMap((p) => (p.status?.podIP ? [{ proxy: proxy.metadata.name, name: p.metadata.name, url: `http://${hostPort(p.status.podIP, port)}` }] : []))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Each series of `name` by its `code` and `reason` labels, summed. */
export function byReason(text: string, name: string): Array<{ code: string; reason: string; n: number }> {
  const out = new Map<string, { code: string; reason: string; n: number }>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const code = /code="([^"]*)"/.exec(line)?.[1] ?? '';
    const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? 'other';
    const n = Number(line.slice(line.lastIndexOf(' ') + 1));
    const key = `${code}/${reason}`;
    out.set(key, { code, reason, n: (out.get(key)?.n ?? 0) + n });
  }
  return [...out.values()].filter((r) => r.n > 0).sort((a, b) => b.n - a.n || a.reason.localeCompare(b.reason));
}

export interface Scraped extends MetricsEndpoint { ready: string; metrics: string | undefined }

const summary = (rows: Array<{ code: string; reason: string; n: number }>): string => rows.map((r) => `${r.reason} ${r.code} ×${r.n}`).join(', ') || 'none';

function kmsState(t: string): string {
  if (!metricSum(t, 'clarus_kms_max_unreachable_seconds')) return '-';
  const unreachable = metricSum(t, 'clarus_kms_unreachable_seconds') ?? 0;
  return `${metricSum(t, 'clarus_kms_keys_usable') === 1 ? 'keys usable' : 'keys NOT usable'}${unreachable > 0 ? `, unreachable ${unreachable}s` : ''}`;
}

/** The configuration hash the pod runs (shortened), marked stale when the operator has rendered another since. */
function configOf(r: Scraped, t: string): string {
  const hash = /^clarus_config_info\{hash="([^"]*)"\} 1$/m.exec(t)?.[1];
  if (hash === undefined) return '-';
  return `${hash.slice(0, 19)}${r.rendered !== undefined && hash !== r.rendered ? ' (stale)' : ''}`;
}

/** Per endpoint: readiness, configuration (generation, hash), KMS state, refusals by reason (last 15 minutes, and since the start). */
export function statusEndpointsTable(rows: Scraped[]): string {
  return formatTable(['PROXY', 'ENDPOINT', 'READY', 'GENERATION', 'CONFIG HASH', 'KMS', 'REFUSED LAST 15 MIN BY REASON', 'SINCE START'], rows.map((r) => {
    if (r.metrics === undefined) return [r.proxy, r.name, r.ready, '-', '-', '-', 'unreachable', '-'];
    const t = r.metrics;
    return [r.proxy, r.name, r.ready, String(metricSum(t, 'clarus_config_generation') ?? '-'), configOf(r, t), kmsState(t),
      summary(byReason(t, 'clarus_refusals_recent')), String(byReason(t, 'clarus_refusals_total').reduce((n, x) => n + x.n, 0))];
  }));
}
