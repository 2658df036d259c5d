// Recovery of in-doubt two-phase commits over split tables (issue 12; protocol in session.ts).
// Runs at proxy start and periodically, on every proxy replica; safe to run concurrently with
// sessions and with other replicas:
//  * a global transaction with a 'commit' decision row is committed on every backend that still
//    holds one of its prepared participants;
//  * one without a decision row whose participants have been prepared for longer than the grace
//    period gets an 'abort' row (INSERT … ON CONFLICT DO NOTHING: if its session decided
//    'commit' first, that row stays and wins), then the decision found is applied;
//  * a participant already resolved by someone else (42704) is skipped;
//  * decision rows older than an hour whose transaction has no participant left anywhere are
//    deleted (only when every backend could be asked).
import type { BackendSecrets } from '../config/load.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { FragmentConnection, FragmentError } from './conn.ts';
import { DECISIONS, DECISIONS_DDL, GID_PREFIX } from './session.ts';
import { quoteLiteral } from '../residual/plan.ts';
import { arrayLiteral } from './fragment.ts';

export interface RecoveryOptions {
  home: string;
  /** Every backend that holds fragments (home included), with the proxy's read-write credentials. */
  backends: BackendSecrets[];
  graceSeconds: number;
  connectTimeoutMs: number;
  log?(level: 'info' | 'warn', message: string, fields?: Record<string, unknown>): void;
}

export interface RecoveryReport { committed: number; rolledBack: number; waiting: number; unreachable: string[] }

/** The global transaction a participant's gid belongs to (`clarus:<replica>:<token>:<participant>`). */
export function globalId(gid: string): string | null {
  if (!gid.startsWith(GID_PREFIX)) return null;
  const at = gid.lastIndexOf(':');
  return at > GID_PREFIX.length ? gid.slice(0, at) : null;
}

async function open(b: BackendSecrets, timeoutMs: number): Promise<FragmentConnection> {
  return FragmentConnection.open(b, timeoutMs, 'clarus-split-recovery');
}

/** Makes the decision table on the home backend (idempotent). */
export async function ensureDecisionTable(home: BackendSecrets, timeoutMs: number): Promise<void> {
  const c = await open(home, timeoutMs);
  try { await c.query(DECISIONS_DDL); } finally { c.close(); }
}

/** `max_prepared_transactions` of a backend (0 = two-phase commit is off there). */
export async function maxPrepared(b: BackendSecrets, timeoutMs: number): Promise<number> {
  const c = await open(b, timeoutMs);
  try {
    const r = await c.query('SHOW max_prepared_transactions');
    return Number(r[0]?.rows[0]?.[0]?.toString('utf8') ?? '0');
  } finally { c.close(); }
}

/** One recovery pass over every backend. */
export async function recoverOnce(o: RecoveryOptions): Promise<RecoveryReport> {
  const report: RecoveryReport = { committed: 0, rolledBack: 0, waiting: 0, unreachable: [] };
  const conns = new Map<string, FragmentConnection>();
  try {
    for (const b of o.backends) {
      try { conns.set(b.spec.name, await open(b, o.connectTimeoutMs)); } catch { report.unreachable.push(b.spec.name); }
    }
    const home = conns.get(o.home);
    if (!home) return report;
    // Participants per global transaction: backend, gid, prepared for how long.
    const found = new Map<string, Array<{ backend: string; gid: string; ageSeconds: number }>>();
    for (const [name, c] of conns) {
      const r = await c.query(`SELECT gid, extract(epoch FROM now() - prepared)::float8 FROM pg_catalog.pg_prepared_xacts WHERE database = current_database() AND gid LIKE 'clarus:%'`);
      for (const row of r[0]?.rows ?? []) {
        const gid = row[0]?.toString('utf8') ?? '';
        const g = globalId(gid);
        if (!g) continue;
        const list = found.get(g) ?? [];
        list.push({ backend: name, gid, ageSeconds: Number(row[1]?.toString('utf8') ?? '0') });
        found.set(g, list);
      }
    }
    for (const [g, parts] of found) {
      let outcome = await decision(home, g);
      if (outcome === null) {
        if (Math.min(...parts.map((p) => p.ageSeconds)) < o.graceSeconds) { report.waiting++; continue; }
        await home.execute(`INSERT INTO ${DECISIONS} (gid, outcome) VALUES ($1, 'abort') ON CONFLICT (gid) DO NOTHING`, [25], [Buffer.from(g)]);
        outcome = await decision(home, g);
      }
      for (const p of parts) {
        const c = conns.get(p.backend) as FragmentConnection;
        try {
          await c.query(`${outcome === 'commit' ? 'COMMIT' : 'ROLLBACK'} PREPARED ${quoteLiteral(p.gid)}`);
          if (outcome === 'commit') report.committed++;
          else report.rolledBack++;
        } catch (e) {
          if (!(e instanceof FragmentError && e.fields.C === SQLSTATE.undefinedObject)) throw e;
        }
      }
      o.log?.('info', 'resolved an in-doubt transaction over split tables', { gid: g, outcome, participants: parts.map((p) => p.backend) });
    }
    if (report.unreachable.length === 0) {
      const live = [...found.keys()];
      await home.execute(`DELETE FROM ${DECISIONS} WHERE decided_at < now() - interval '1 hour' AND gid <> ALL ($1::text[])`, [25], [arrayLiteral(live)]);
    }
    return report;
  } finally {
    for (const c of conns.values()) c.close();
  }
}

async function decision(home: FragmentConnection, g: string): Promise<'commit' | 'abort' | null> {
  const r = await home.execute(`SELECT outcome FROM ${DECISIONS} WHERE gid = $1`, [25], [Buffer.from(g)]);
  const v = r.rows[0]?.[0]?.toString('utf8');
  return v === 'commit' || v === 'abort' ? v : null;
}

/** Runs recovery now and every `everySeconds` (the timer does not keep the process alive). */
export function startRecovery(o: RecoveryOptions, everySeconds: number): { stop(): void; pass(): Promise<RecoveryReport> } {
  let running: Promise<RecoveryReport> | null = null;
  const pass = (): Promise<RecoveryReport> => {
    running ??= recoverOnce(o).catch((e: unknown) => {
      o.log?.('warn', 'split recovery pass failed', { error: (e as Error).message });
      return { committed: 0, rolledBack: 0, waiting: 0, unreachable: [] };
    }).finally(() => { running = null; });
    return running;
  };
  void pass();
  const t = setInterval(() => void pass(), everySeconds * 1000);
  t.unref();
  return { stop: () => clearInterval(t), pass };
}
