// The security administrator's views of `kubectl clarus` as pure functions of the cluster's objects
// and the audit log's lines: proxies, grants (and those about to expire), filtered audit decisions.
import type { AccessGrant, ClarusProxy, CloudBackend } from '@clarus/crds/types.ts';
import { formatTable } from '../explain/table.ts';

type Cond = { type: string; status: string; reason?: string };
type WithStatus<T> = T & { status?: { conditions?: Cond[]; readyReplicas?: number; replicas?: number; policyHash?: string; endpoint?: string } };

const DAY_MS = 86_400_000;

function ready(p: WithStatus<ClarusProxy>): string {
  const c = p.status?.conditions?.find((x) => x.type === 'Ready');
  return c ? `${c.status}${c.status === 'True' ? '' : ` (${c.reason ?? ''})`}` : 'Unknown';
}

function replicas(p: WithStatus<ClarusProxy>): string {
  return `${p.status?.readyReplicas ?? 0}/${p.spec.mode === 'Sidecar' ? '-' : (p.status?.replicas ?? p.spec.replicas ?? 1)}`;
}

export function proxiesTable(proxies: Array<WithStatus<ClarusProxy>>): string {
  const rows = [...proxies].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((p) => [
    p.metadata.name, p.spec.mode ?? 'Deployment', replicas(p), p.spec.policyRef.name, (p.status?.policyHash ?? '').slice(0, 19) || '-', ready(p),
  ]);
  return formatTable(['PROXY', 'MODE', 'READY', 'POLICY', 'CONFIG HASH', 'STATUS'], rows);
}

/** Each CloudBackend: where it is, and its Reachable condition (the operator's TCP connect check). */
export function backendsTable(backends: CloudBackend[]): string {
  const rows = [...backends].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((b) => {
    const c = (b as WithStatus<CloudBackend>).status?.conditions?.find((x) => x.type === 'Reachable');
    return [b.metadata.name, `${b.spec.host}:${b.spec.port ?? 5432}/${b.spec.database ?? ''}`, c ? `${c.status}${c.status === 'True' ? '' : ` (${c.reason ?? ''})`}` : 'Unknown'];
  });
  return formatTable(['BACKEND', 'ADDRESS', 'REACHABLE'], rows);
}

function until(g: AccessGrant, now: Date): string {
  if (!g.spec.expires) return 'no expiry';
  const left = Date.parse(g.spec.expires) - now.getTime();
  if (left <= 0) return `${g.spec.expires} (expired)`;
  return `${g.spec.expires} (${Math.ceil(left / DAY_MS)}d left)`;
}

const subjectOf = (g: AccessGrant): string => (g.spec.subject.user ? `user ${g.spec.subject.user}` : `externalProxy ${g.spec.subject.externalProxy?.name ?? ''}`);

/** Who may read or write which dataset with which view, and until when. */
export function grantsTable(grants: AccessGrant[], now: Date): string {
  const rows = [...grants].sort((a, b) => subjectOf(a).localeCompare(subjectOf(b)) || a.metadata.name.localeCompare(b.metadata.name)).map((g) => [
    subjectOf(g), g.spec.proxyRef.name, [...g.spec.datasets].sort().join(','), g.spec.access, g.spec.view, until(g, now), g.metadata.name,
  ]);
  return formatTable(['SUBJECT', 'PROXY', 'DATASETS', 'ACCESS', 'VIEW', 'UNTIL', 'GRANT'], rows);
}

/** Grants that expire within `days` (expired ones included: they still appear in the cluster). */
export function expiringSoon(grants: AccessGrant[], now: Date, days: number): AccessGrant[] {
  return grants.filter((g) => g.spec.expires !== undefined && Date.parse(g.spec.expires) - now.getTime() <= days * DAY_MS);
}

export interface AuditFilter { user?: string; dataset?: string; outcome?: string }

/** Audit lines (JSON, hash-chained) whose decision matches every given field, newest last. */
export function filterAudit(lines: string[], f: AuditFilter): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of lines) {
    let e: Record<string, unknown>;
    try { e = JSON.parse(line) as Record<string, unknown>; } catch { continue; }
    if (f.user !== undefined && e.user !== f.user) continue;
    if (f.outcome !== undefined && e.outcome !== f.outcome) continue;
    if (f.dataset !== undefined && !(Array.isArray(e.datasets) && e.datasets.includes(f.dataset))) continue;
    out.push(e);
  }
  return out;
}

export function auditTable(entries: Array<Record<string, unknown>>): string {
  const s = (v: unknown): string => (Array.isArray(v) ? v.join(',') : typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));
  return formatTable(['TIME', 'USER', 'OUTCOME', 'CODE', 'DATASETS', 'FINGERPRINT'],
    entries.map((e) => [s(e.time), s(e.user), s(e.outcome), s(e.code) || '-', s(e.datasets) || '-', s(e.fingerprint)]));
}

/** Each series of `name` by the value of its `label` (series without it left out). */
export function metricByLabel(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = new RegExp(`${label}="([^"]*)"`).exec(line);
    if (m?.[1] === undefined) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** Sum of every series of `name` (with all of `labels`) in Prometheus text; undefined when absent. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export interface EndpointHealth { url: string; ready: string; metrics: string | undefined }

/** One row per proxy metrics endpoint: readiness, configuration generation, statements refused, backend errors, KMS state. */
export function endpointsTable(rows: EndpointHealth[]): string {
  return formatTable(['ENDPOINT', 'READY', 'GENERATION', 'REFUSED', 'REFUSED BY SQLSTATE', 'BACKEND ERRORS', 'KMS'], rows.map((r) => {
    const t = r.metrics ?? '';
    // A counter with no series yet is 0 on an endpoint that answered.
    const n = (v: number | undefined): string => (r.metrics === undefined ? '-' : String(v ?? 0));
    const usable = metricSum(t, 'clarus_kms_keys_usable');
    const unreachable = metricSum(t, 'clarus_kms_unreachable_seconds') ?? 0;
    const kms = metricSum(t, 'clarus_kms_max_unreachable_seconds') ? `${usable === 1 ? 'keys usable' : 'keys NOT usable'}${unreachable > 0 ? `, unreachable ${unreachable}s` : ''}` : '-';
    const byCode = [...metricByLabel(t, 'clarus_refusals_total', 'code')].sort((a, b) => b[1] - a[1]).map(([c, v]) => `${c}:${v}`).join(' ');
    return [r.url, r.ready, n(metricSum(t, 'clarus_config_generation')), n(metricSum(t, 'clarus_statements_total', { outcome: 'refused' })), byCode || '-',
      n(metricSum(t, 'clarus_backend_errors_total')), r.metrics === undefined ? 'unreachable' : kms];
  }));
}
