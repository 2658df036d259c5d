// `kubectl clarus …` (the kubectl-clarus plugin is cli/bin/clarus under another name): the security
// administrator's daily views over the cluster's Clarus objects and the proxies' audit logs. A thin
// layer: the reports are pure (report.ts), the audit chain check is the proxy's own
// (verifyAuditFiles), `explain` is `clarus policy explain` on the policies read from the cluster.
import type { AccessGrant, ClarusProxy, SecurityPolicy } from '@clarus/crds/types.ts';
import { one, parseArgs, processIo, type Io, type ParsedArgs } from '../args.ts';
import { explainPolicies } from '../policy.ts';
import { auditTable, endpointsTable, expiringSoon, filterAudit, grantsTable, proxiesTable } from './report.ts';
import type { EndpointHealth } from './report.ts';

const USAGE = `usage: kubectl clarus <command> (or: clarus kubectl <command>)
  status  [-n NS] [--expiring-days N]     proxies (mode, ready replicas, policy, rendered config hash,
                                          status) and the grants that expire within N days (default 7)
  grants  [-n NS]                         who may read or write which dataset, with which view, until when
  explain [-n NS] [--sql "STATEMENT"]     \`clarus policy explain\` for the SecurityPolicies in the namespace
  metrics URL…                            each proxy's readiness, configuration generation, refused
                                          statements, backend errors and KMS state, from its metrics
                                          endpoint (e.g. http://127.0.0.1:9187 after kubectl port-forward)
  audit verify FILE…                      verifies the hash chain of an audit log across FILE's rotated
                                          siblings (kubectl cp the files out of a pod first)
  audit tail FILE [--user U] [--dataset D] [--outcome allow|refuse|pass] [--lines N]
                                          the last N matching decisions (default 20) across FILE's rotated siblings
  audit query FILE [--user U] [--dataset D] [--outcome …]   every matching decision
The cluster comes from KUBECONFIG (or ~/.kube/config), as for kubectl.
`;

interface Cluster {
  list<T>(kind: 'ClarusProxy' | 'AccessGrant' | 'SecurityPolicy', namespace: string): Promise<T[]>;
}

async function connect(): Promise<Cluster> {
  const [{ KubeClient }, { Resources }] = await Promise.all([import('@clarus/operator/kube/client.ts'), import('@clarus/operator/kube/resources.ts')]);
  const kube = KubeClient.fromEnvironment();
  return { list: async <T>(kind: 'ClarusProxy' | 'AccessGrant' | 'SecurityPolicy', ns: string) => (await kube.list<T>(Resources[kind], ns)).items };
}

function usageError(io: Io, message: string): number {
  io.err(`kubectl clarus: ${message}\n\n${USAGE}`);
  return 2;
}

const nsOf = (args: ParsedArgs): string => one(args, '-n', '--namespace') ?? 'default';

async function status(args: ParsedArgs, io: Io, cluster: Cluster, now: Date): Promise<number> {
  const days = Number(one(args, '--expiring-days') ?? '7');
  if (!Number.isFinite(days) || days < 0) return usageError(io, '--expiring-days must be a number of days');
  const ns = nsOf(args);
  const [proxies, grants] = await Promise.all([cluster.list<ClarusProxy>('ClarusProxy', ns), cluster.list<AccessGrant>('AccessGrant', ns)]);
  io.out(`${proxiesTable(proxies)}\n`);
  const soon = expiringSoon(grants, now, days);
  io.out(soon.length === 0 ? `\nno grant expires within ${days} days\n` : `\ngrants expiring within ${days} days:\n${grantsTable(soon, now)}\n`);
  return 0;
}

async function audit(args: ParsedArgs, io: Io): Promise<number> {
  const [sub, ...files] = args.positional;
  if ((sub !== 'verify' && sub !== 'tail' && sub !== 'query') || files.length === 0) return usageError(io, 'audit verify FILE… | audit tail|query FILE');
  const { auditChainFiles, readAuditLines, verifyAuditFiles } = await import('@clarus/sidecar/access/audit-file.ts');
  const chain = files.flatMap((f) => auditChainFiles(f));
  if (chain.length === 0) return usageError(io, `no audit file at ${files.join(', ')}`);
  if (sub === 'verify') {
    const v = verifyAuditFiles(chain);
    if (!v.ok) {
      io.out(`BROKEN: ${v.file} line ${v.line}: ${v.reason}\n`);
      return 1;
    }
    io.out(`ok: ${v.count} decisions in ${v.files} file(s)${v.startsMidChain ? ' (the oldest file continues a chain whose start was removed)' : ''}\n`);
    return 0;
  }
  const lines = Number(one(args, '--lines') ?? '20');
  const outcome = one(args, '--outcome');
  if (outcome !== undefined && !['allow', 'refuse', 'pass'].includes(outcome)) return usageError(io, '--outcome must be allow, refuse or pass');
  const filter = { ...(one(args, '--user') !== undefined ? { user: one(args, '--user') } : {}), ...(one(args, '--dataset') !== undefined ? { dataset: one(args, '--dataset') } : {}), ...(outcome ? { outcome } : {}) };
  const entries = filterAudit(chain.flatMap((f) => readAuditLines(f)), filter);
  io.out(`${auditTable(sub === 'query' ? entries : entries.slice(-Math.max(1, lines)))}\n`);
  return 0;
}

async function scrape(base: string): Promise<EndpointHealth> {
  const url = base.replace(/\/(metrics)?$/, '');
  const get = async (path: string): Promise<{ status: number; text: string } | undefined> => {
    try {
      const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
      return { status: r.status, text: await r.text() };
    } catch {
      return undefined;
    }
  };
  const [ready, metrics] = await Promise.all([get('/readyz'), get('/metrics')]);
  return { url, ready: ready ? (ready.status === 200 ? 'yes' : `no (${ready.status})`) : 'unreachable', metrics: metrics?.status === 200 ? metrics.text : undefined };
}

export async function main(argv: string[], io: Io = processIo, cluster?: Cluster, now: Date = new Date()): Promise<number> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest, ['-n', '--namespace', '--expiring-days', '--sql', '--user', '--dataset', '--outcome', '--lines']);
  if (typeof args === 'string') return usageError(io, args);
  if (sub === 'audit') return audit(args, io);
  if (sub === 'metrics') {
    if (args.positional.length === 0) return usageError(io, 'metrics URL… (a proxy\'s metrics endpoint)');
    io.out(`${endpointsTable(await Promise.all(args.positional.map(scrape)))}\n`);
    return 0;
  }
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return 0;
  }
  if (!['status', 'grants', 'explain'].includes(sub)) return usageError(io, `unknown command ${sub}`);
  const c = cluster ?? await connect();
  if (sub === 'status') return status(args, io, c, now);
  if (sub === 'grants') {
    io.out(`${grantsTable(await c.list<AccessGrant>('AccessGrant', nsOf(args)), now)}\n`);
    return 0;
  }
  const policies = await c.list<SecurityPolicy>('SecurityPolicy', nsOf(args));
  if (policies.length === 0) return usageError(io, `no SecurityPolicy in namespace ${nsOf(args)}`);
  return explainPolicies(policies, one(args, '--sql'), io);
}

export type { Cluster };
