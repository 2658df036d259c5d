// `kubectl clarus …` (the kubectl-clarus plugin is cli/bin/clarus under another name): the security
// administrator's daily views over the cluster's Clarus objects and the proxies' audit logs. A thin
// layer: the reports are pure (report.ts), the audit chain check is the proxy's own
// (verifyAuditFiles), `explain` is `clarus policy explain` on the policies read from the cluster.
import { basename, dirname, join } from 'node:path';
import type { AccessGrant, ClarusProxy, CloudBackend, SecurityPolicy } from '@clarus/crds/types.ts';
import { many, one, parseArgs, processIo, type Io, type ParsedArgs } from '../args.ts';
import { explainPolicies } from '../policy.ts';
import { INJECT_LABEL, peersService, podEndpoints, sliceEndpoints, statusEndpointsTable } from './endpoints.ts';
import type { EndpointSlice, MetricsEndpoint, Pod } from './endpoints.ts';
import { auditTable, backendsTable, endpointsTable, expiringSoon, filterAudit, grantsTable, proxiesTable } from './report.ts';
import { scrape } from './scrape.ts';
import { copyFromPod } from './pod-files.ts';
import type { ChainVerdict } from '@clarus/sidecar/access/audit-file.ts';
import type { AuditFilter } from './report.ts';

const USAGE = `usage: kubectl clarus <command> (or: clarus kubectl <command>)
  status  [-n NS] [--expiring-days N] [--metrics URL]… [--no-metrics]
                                          proxies (mode, ready replicas, policy, rendered config hash,
                                          status), backends (reachable), each proxy pod's readiness,
                                          generation, KMS state and refusals of the last 15 minutes by
                                          reason (read from its metrics endpoint: the peers Service's
                                          EndpointSlices, sidecar pods' IPs, or the URLs given), and
                                          the grants that expire within N days (default 7)
  grants  [-n NS]                         who may read or write which dataset, with which view, until when
  explain [-n NS] [--sql "STATEMENT"]     \`clarus policy explain\` for the SecurityPolicies in the namespace
  metrics URL…                            each proxy's readiness, configuration generation, refused
                                          statements, backend errors and KMS state, from its metrics
                                          endpoint (e.g. http://127.0.0.1:9187 after kubectl port-forward)
  audit verify FILE…                      verifies the hash chain of an audit log across FILE's rotated siblings
  audit tail FILE [--user U] [--dataset D] [--outcome allow|refuse|pass] [--lines N]
                                          the last N matching decisions (default 20) across FILE's rotated siblings
  audit query FILE [--user U] [--dataset D] [--outcome …]   every matching decision
  audit verify|tail|query --pod POD [-n NS] [-c CONTAINER] [--file PATH] [--kubectl BIN] …
                                          the same over the audit files of a proxy pod (PATH default
                                          /var/log/clarus/audit.jsonl, CONTAINER clarus-proxy), copied
                                          out with kubectl exec … tar (needs the pod's kubelet)
The cluster comes from KUBECONFIG (or ~/.kube/config), as for kubectl.
`;

type Kind = 'ClarusProxy' | 'AccessGrant' | 'SecurityPolicy' | 'CloudBackend' | 'EndpointSlice' | 'Pod';

interface Cluster {
  list<T>(kind: Kind, namespace: string, labelSelector?: string): Promise<T[]>;
}

// Read-only kinds the operator itself never lists (its Resources table has neither).
const DISCOVERY = {
  EndpointSlice: { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true },
  Pod: { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
} as const;

async function connect(): Promise<Cluster> {
  const [{ KubeClient }, { Resources }] = await Promise.all([import('@clarus/operator/kube/client.ts'), import('@clarus/operator/kube/resources.ts')]);
  const kube = KubeClient.fromEnvironment();
  const types = { ...Resources, ...DISCOVERY };
  return { list: async <T>(kind: Kind, ns: string, labelSelector?: string) => (await kube.list<T>(types[kind], ns, labelSelector)).items };
}

function usageError(io: Io, message: string): number {
  io.err(`kubectl clarus: ${message}\n\n${USAGE}`);
  return 2;
}

const nsOf = (args: ParsedArgs): string => one(args, '-n', '--namespace') ?? 'default';

/** The proxies' metrics endpoints: the URLs given with --metrics, else those the cluster lists (endpoints.ts). */
async function metricsEndpoints(args: ParsedArgs, cluster: Cluster, ns: string, proxies: ClarusProxy[]): Promise<MetricsEndpoint[]> {
  const given = many(args, '--metrics');
  if (given.length > 0) return given.map((url) => ({ proxy: '-', name: url, url: url.replace(/\/(metrics)?$/, '') }));
  const each = await Promise.all(proxies.map(async (p) => {
    const found = p.spec.mode === 'Sidecar'
      ? podEndpoints(p, await cluster.list<Pod>('Pod', ns, `${INJECT_LABEL}=${p.metadata.name}`))
      : sliceEndpoints(p.metadata.name, await cluster.list<EndpointSlice>('EndpointSlice', ns, `kubernetes.io/service-name=${peersService(p.metadata.name)}`));
    const rendered = (p as ClarusProxy & { status?: { policyHash?: string } }).status?.policyHash;
    return rendered === undefined ? found : found.map((e) => ({ ...e, rendered }));
  }));
  return each.flat();
}

async function status(args: ParsedArgs, io: Io, cluster: Cluster, now: Date): Promise<number> {
  const days = Number(one(args, '--expiring-days') ?? '7');
  if (!Number.isFinite(days) || days < 0) return usageError(io, '--expiring-days must be a number of days');
  const ns = nsOf(args);
  const [proxies, grants, backends] = await Promise.all([cluster.list<ClarusProxy>('ClarusProxy', ns), cluster.list<AccessGrant>('AccessGrant', ns),
    cluster.list<CloudBackend>('CloudBackend', ns)]);
  io.out(`${proxiesTable(proxies)}\n`);
  io.out(`\n${backendsTable(backends)}\n`);
  if (!args.flags.has('--no-metrics')) {
    const endpoints = await metricsEndpoints(args, cluster, ns, proxies);
    io.out(endpoints.length === 0 ? '\nno proxy metrics endpoint found (no pod yet; or give --metrics URL)\n'
      : `\n${statusEndpointsTable(await Promise.all(endpoints.map(async (e) => ({ ...e, ...(await scrape(e.url)) }))))}\n`);
  }
  const soon = expiringSoon(grants, now, days);
  io.out(soon.length === 0 ? `\nno grant expires within ${days} days\n` : `\ngrants expiring within ${days} days:\n${grantsTable(soon, now)}\n`);
  return 0;
}

const AUDIT_FILE_IN_POD = '/var/log/clarus/audit.jsonl';

/** The audit files to read: FILE… given, or the audit directory copied out of --pod (removed after). */
async function auditSource(args: ParsedArgs, files: string[]): Promise<{ files: string[]; remove: () => void }> {
  const pod = one(args, '--pod');
  if (pod === undefined) return { files, remove: () => undefined };
  const file = one(args, '--file') ?? AUDIT_FILE_IN_POD;
  const kubectl = one(args, '--kubectl') ?? process.env.KUBECTL ?? 'kubectl';
  const copy = await copyFromPod({ kubectl, namespace: nsOf(args), pod, container: one(args, '-c', '--container') ?? 'clarus-proxy', dir: dirname(file) });
  return { files: [join(copy.dir, basename(file))], remove: copy.remove };
}

/** The decisions to show: those matching --user, --dataset and --outcome. */
function auditFilter(args: ParsedArgs): AuditFilter {
  const f: AuditFilter = {};
  for (const [key, option] of [['user', '--user'], ['dataset', '--dataset'], ['outcome', '--outcome']] as const) {
    const v = one(args, option);
    if (v !== undefined) f[key] = v;
  }
  return f;
}

/** Where an audit file was read from, for messages: the local path, or POD:DIR/NAME. */
function auditPlace(args: ParsedArgs): (file: string) => string {
  const pod = one(args, '--pod');
  if (pod === undefined) return (f) => f;
  return (f) => `${pod}:${dirname(one(args, '--file') ?? AUDIT_FILE_IN_POD)}/${basename(f)}`;
}

function auditUsage(args: ParsedArgs, io: Io): number | undefined {
  const [sub, ...given] = args.positional;
  if ((sub !== 'verify' && sub !== 'tail' && sub !== 'query') || (given.length === 0 && one(args, '--pod') === undefined)) {
    return usageError(io, 'audit verify|tail|query FILE… | --pod POD');
  }
  const outcome = one(args, '--outcome');
  if (outcome !== undefined && !['allow', 'refuse', 'pass'].includes(outcome)) return usageError(io, '--outcome must be allow, refuse or pass');
  return undefined;
}

async function audit(args: ParsedArgs, io: Io): Promise<number> {
  const bad = auditUsage(args, io);
  if (bad !== undefined) return bad;
  const [sub, ...given] = args.positional;
  const { auditChainFiles, readAuditLines, verifyAuditFiles } = await import('@clarus/sidecar/access/audit-file.ts');
  const source = await auditSource(args, given);
  try {
    const chain = source.files.flatMap((f) => auditChainFiles(f));
    if (chain.length === 0) return usageError(io, `no audit file at ${given.join(', ') || auditPlace(args)(AUDIT_FILE_IN_POD)}`);
    if (sub === 'verify') return printVerdict(io, verifyAuditFiles(chain), auditPlace(args));
    const entries = filterAudit(chain.flatMap((f) => readAuditLines(f)), auditFilter(args));
    io.out(`${auditTable(sub === 'query' ? entries : entries.slice(-Math.max(1, Number(one(args, '--lines') ?? '20'))))}\n`);
    return 0;
  } finally {
    source.remove();
  }
}

function printVerdict(io: Io, v: ChainVerdict, name: (file: string) => string): number {
  if (!v.ok) {
    io.out(`BROKEN: ${name(v.file)} line ${v.line}: ${v.reason}\n`);
    return 1;
  }
  io.out(`ok: ${v.count} decisions in ${v.files} file(s)${v.startsMidChain ? ' (the oldest file continues a chain whose start was removed)' : ''}\n`);
  return 0;
}

async function metrics(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positional.length === 0) return usageError(io, 'metrics URL… (a proxy\'s metrics endpoint)');
  io.out(`${endpointsTable(await Promise.all(args.positional.map(async (u) => ({ url: u.replace(/\/(metrics)?$/, ''), ...(await scrape(u)) }))))}\n`);
  return 0;
}

async function grants(args: ParsedArgs, io: Io, c: Cluster, now: Date): Promise<number> {
  io.out(`${grantsTable(await c.list<AccessGrant>('AccessGrant', nsOf(args)), now)}\n`);
  return 0;
}

async function explain(args: ParsedArgs, io: Io, c: Cluster): Promise<number> {
  const policies = await c.list<SecurityPolicy>('SecurityPolicy', nsOf(args));
  if (policies.length === 0) return usageError(io, `no SecurityPolicy in namespace ${nsOf(args)}`);
  return explainPolicies(policies, one(args, '--sql'), io);
}

const LOCAL: Record<string, (args: ParsedArgs, io: Io) => Promise<number>> = { audit, metrics };
const IN_CLUSTER: Record<string, (args: ParsedArgs, io: Io, c: Cluster, now: Date) => Promise<number>> = { status, grants, explain };

export async function main(argv: string[], io: Io = processIo, cluster?: Cluster, now: Date = new Date()): Promise<number> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest, ['-n', '--namespace', '--expiring-days', '--sql', '--user', '--dataset', '--outcome', '--lines', '--metrics', '--pod', '-c', '--container', '--file', '--kubectl']);
  if (typeof args === 'string') return usageError(io, args);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return 0;
  }
  const local = LOCAL[sub];
  if (local) return local(args, io);
  const inCluster = IN_CLUSTER[sub];
  if (!inCluster) return usageError(io, `unknown command ${sub}`);
  return inCluster(args, io, cluster ?? await connect(), now);
}

export type { Cluster };
