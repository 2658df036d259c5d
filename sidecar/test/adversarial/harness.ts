// Harness of the adversarial suite (issue 8): one PostgreSQL 15 backend logging every statement,
// a recording wire tap between the proxy and the backend, the real proxy with a small policy, and
// three users: `writer` (readWrite, plaintext), `reader` (read-only, masked view on patients;
// plaintext on visits) and `nobody` (no grant).
//
// Every test gets a pristine database (`adv`, re-created from a template that was built through the
// proxy) and a freshly started proxy (nothing the proxy learned in an earlier test survives), then
// plays an attack step by step and checks:
//   1. each step's outcome: refused by the proxy itself with the expected SQLSTATE and nothing
//      forwarded to the backend (the tap sees no Query/Parse/Bind/Execute/FunctionCall/CopyData), or
//      run successfully when the proxy is expected to handle it by rewriting;
//   2. scan(canary): no canary in (a) pg_dump --create of the database and pg_dumpall --globals-only,
//      (b) the same dumps searched for the canary's hex, bytea-escape and base64 forms, (c) the
//      server log (log_statement = all, failing statements and notices logged too), and (d) the
//      bytes the proxy sent the backend (the tap: what the cloud provider receives, including COPY
//      data and Bind parameters, which the log does not always show);
//   3. for steps of `reader` and `nobody`: nothing in the backend changed (schema dump, every
//      table's rows and physical tuple identity (ctid/xmin/xmax: FOR UPDATE locks, VACUUM FULL),
//      relfilenodes, role/database settings, relation locks held, large objects, prepared xacts).
// A test fails with ONE message: the first violated expectation, with the leak evidence appended.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import postgres from 'postgres';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import { PG_BIN, SUPERUSER, startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { HarnessUser, ProxyConfigDir, RunningProxy } from '@clarus/testing/proxy.ts';
import { RawSession } from './raw.ts';
import type { RawResult } from './raw.ts';
import { WireTap } from './tap.ts';
import type { TapMessage } from './tap.ts';

const run = promisify(execFile);
const B = 'primary';

/**
 * patients (public.patient): name randomized, ssn randomized + searchable (blind index), diag
 * deterministic (key `default`, shared with visit.reason), zip generalized (keepPrefix 3), phone
 * masked (keepLast 2), note plain. archive (archive.patient): a second policy table of the same
 * name in another schema, whose `note` IS encrypted. clinic (public.clinic): a policy table the
 * template does not create (for CREATE TABLE attacks). scratch: a plain table the policy ignores.
 */
export const POLICY: RuntimePolicy = {
  name: 'adversarial',
  onUnsupported: 'reject',
  defaultBackend: B,
  keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
  datasets: [
    {
      name: 'patients', schema: 'public', table: 'patient', rowKey: 'id',
      columns: [
        { name: 'id', attributeType: 'technicalIdentifier', backend: B },
        { name: 'name', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: B },
        { name: 'ssn', attributeType: 'identifier', encrypt: { mode: 'randomized', searchable: true, keyName: 'default' }, backend: B },
        { name: 'diag', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: B },
        { name: 'zip', attributeType: 'quasiIdentifier', anonymize: { generalize: { keepPrefix: 3 } }, backend: B },
        { name: 'phone', attributeType: 'quasiIdentifier', anonymize: { mask: { keepLast: 2 } }, backend: B },
        { name: 'note', attributeType: 'nonConfidential', backend: B },
      ],
    },
    {
      name: 'visits', schema: 'public', table: 'visit', rowKey: 'visit_id',
      columns: [
        { name: 'visit_id', attributeType: 'technicalIdentifier', backend: B },
        { name: 'pat_id', attributeType: 'technicalIdentifier', backend: B },
        { name: 'reason', attributeType: 'confidential', encrypt: { mode: 'deterministic', searchable: false, keyName: 'default' }, backend: B },
        { name: 'memo', attributeType: 'confidential', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: B },
      ],
    },
    {
      name: 'archive', schema: 'archive', table: 'patient', rowKey: 'id',
      columns: [
        { name: 'id', attributeType: 'technicalIdentifier', backend: B },
        { name: 'note', attributeType: 'confidential', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: B },
      ],
    },
    {
      name: 'clinic', schema: 'public', table: 'clinic', rowKey: 'id',
      columns: [
        { name: 'id', attributeType: 'technicalIdentifier', backend: B },
        { name: 'secret', attributeType: 'confidential', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' }, backend: B },
        { name: 'zipc', attributeType: 'quasiIdentifier', anonymize: { generalize: { keepPrefix: 3 } }, backend: B },
        { name: 'info', attributeType: 'nonConfidential', backend: B },
      ],
    },
  ],
};

export type UserName = 'writer' | 'reader' | 'nobody';
export const USERS: Record<UserName, HarnessUser> = {
  writer: { name: 'writer', password: 'writer-pw', grants: [{ grant: 'w', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] },
  reader: { name: 'reader', password: 'reader-pw', grants: [
    { grant: 'r1', datasets: ['patients', 'archive', 'clinic'], access: 'read', view: 'masked' },
    { grant: 'r2', datasets: ['visits'], access: 'read', view: 'plaintext' },
  ] },
  nobody: { name: 'nobody', password: 'nobody-pw', grants: [] },
};

/** The declared column order of patient (the proxy refuses `INSERT INTO patient VALUES (…)` without a column list). */
export const PATIENT_COLUMNS = ['id', 'name', 'ssn', 'diag', 'zip', 'phone', 'note'] as const;

/** Built through the proxy as `writer` once per file; every test starts from a copy. */
const TEMPLATE_SQL = [
  'CREATE TABLE patient (id integer PRIMARY KEY, name text NOT NULL, ssn text, diag text, zip text, phone text, note text)',
  'CREATE INDEX diag_idx ON patient (diag)',
  'CREATE TABLE visit (visit_id integer PRIMARY KEY, pat_id integer, reason text, memo text)',
  'CREATE TABLE scratch (id integer, t text, b bytea, name text)',
  'CREATE SCHEMA archive',
  'CREATE TABLE archive.patient (id integer PRIMARY KEY, note text)',
  "INSERT INTO patient (id, name, ssn, diag, zip, phone, note) VALUES (1, 'Ann Able', '100-00-0001', 'flu', '08001', '0611223344', 'seed one'), (2, 'Bob Baker', '100-00-0002', 'cold', '28002', '0622334455', 'seed two')",
  "INSERT INTO visit (visit_id, pat_id, reason, memo) VALUES (10, 1, 'flu', 'rest'), (11, 2, 'cold', 'tea')",
  "INSERT INTO scratch VALUES (1, 'scratch one', '\\x00', 'plain name')",
  "INSERT INTO archive.patient (id, note) VALUES (1, 'archived note')",
];

const LOG_CONFIG = [
  '', '# adversarial suite: every statement, every failing statement and notice, all parameters',
  "log_statement = 'all'", "log_min_messages = 'info'", "log_min_error_statement = 'info'",
  'log_parameter_max_length = -1', 'log_parameter_max_length_on_error = -1', 'log_connections = on',
  "log_line_prefix = '%m [%p] %u@%d/%a '", '',
].join('\n');

const OWNER = { name: 'clarus_owner', password: 'owner-pw' };
const CONTENT_FORWARDED = (f: TapMessage[]) => f.map((m) => `${m.type} ${m.text.slice(0, 300)}`).join(' | ');

// ---------------------------------------------------------------------------------------------
// Canary forms

export interface Finding { canary: string; form: string; source: string; excerpt: string }

function byteaEscape(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (b === 0x5c ? '\\\\' : b < 0x20 || b > 0x7e ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b))).join('');
}

function base64Forms(s: string): string[] {
  const b = Buffer.from(s, 'utf8');
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const enc = Buffer.concat([Buffer.alloc(shift), b]).toString('base64');
    // Drop the characters that depend on the unknown neighbouring bytes.
    const start = shift === 0 ? 0 : Math.ceil((shift * 8) / 6);
    const full = Math.floor(((shift + b.length) * 8) / 6);
    const core = enc.slice(start, full);
    if (core.length >= 12) out.push(core);
  }
  return out;
}

/** The textual forms a canary may take in a dump, a log or on the wire. */
export function canaryForms(canary: string, extra: Record<string, string> = {}): Array<{ form: string; needle: string; caseless: boolean }> {
  const forms = [
    { form: 'text', needle: canary, caseless: true },
    { form: 'hex', needle: Buffer.from(canary, 'utf8').toString('hex'), caseless: true },
  ];
  const esc = byteaEscape(canary);
  if (esc !== canary) forms.push({ form: 'bytea escape', needle: esc, caseless: false });
  for (const b of base64Forms(canary)) forms.push({ form: 'base64', needle: b, caseless: false });
  for (const [form, needle] of Object.entries(extra)) forms.push({ form, needle, caseless: true });
  return forms;
}

function findIn(hay: string, hayLower: string, source: string, canary: string, extra: Record<string, string>): Finding[] {
  const out: Finding[] = [];
  for (const f of canaryForms(canary, extra)) {
    const i = f.caseless ? hayLower.indexOf(f.needle.toLowerCase()) : hay.indexOf(f.needle);
    if (i < 0) continue;
    const lineStart = hay.lastIndexOf('\n', i) + 1;
    const lineEnd = hay.indexOf('\n', i);
    const line = hay.slice(Math.max(lineStart, i - 160), lineEnd < 0 ? i + 160 : Math.min(lineEnd, i + 160));
    out.push({ canary, form: f.form, source, excerpt: line.replace(/[^\x20-\x7e]/g, '·') });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sessions

export interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  rows: unknown[];
  rowCount?: number | null;
  notices: string[];
  /** Statement-carrying messages the proxy sent the backend during the step. */
  forwarded: TapMessage[];
}

type Via = 'simple' | 'extended' | 'postgresjs' | 'psql' | 'raw';

interface Session {
  run(sql: string | Buffer, params: unknown[] | undefined, via: Via, name?: string): Promise<Omit<Outcome, 'forwarded'>>;
  copyIn?(sql: string, data: Buffer): Promise<Omit<Outcome, 'forwarded'>>;
  raw?: RawSession;
  close(): Promise<void>;
}

class PgSession implements Session {
  notices: string[] = [];
  private readonly client: pg.Client;
  constructor(client: pg.Client) {
    this.client = client;
    client.on('notice', (n) => this.notices.push(n.message ?? ''));
    client.on('error', () => undefined);
  }
  static async open(url: string): Promise<PgSession> {
    const c = new pg.Client({ connectionString: url, query_timeout: 100_000 });
    await c.connect();
    return new PgSession(c);
  }
  async copyIn(sql: string, data: Buffer): Promise<Omit<Outcome, 'forwarded'>> {
    this.notices = [];
    try {
      const stream = this.client.query(copyFrom(sql));
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.on('finish', () => resolve());
        stream.end(data);
      });
      return { ok: true, rows: [], rowCount: Number((stream as unknown as { rowCount?: number }).rowCount ?? 0), notices: this.notices };
    } catch (e) {
      const err = e as { code?: string; message: string };
      return { ok: false, code: err.code ?? 'client', message: err.message, rows: [], notices: this.notices };
    }
  }
  async run(sql: string | Buffer, params: unknown[] | undefined, via: Via, name?: string): Promise<Omit<Outcome, 'forwarded'>> {
    this.notices = [];
    try {
      const cfg: pg.QueryConfig & { queryMode?: string } = { text: String(sql), ...(params ? { values: params } : {}), ...(name ? { name } : {}) };
      if (via === 'extended') cfg.queryMode = 'extended';
      const r = await this.client.query(cfg as pg.QueryConfig);
      const results = Array.isArray(r) ? r as pg.QueryResult[] : [r];
      return { ok: true, rows: results.flatMap((x) => x.rows ?? []), rowCount: results.at(-1)?.rowCount ?? null, notices: this.notices };
    } catch (e) {
      const err = e as { code?: string; message: string };
      return { ok: false, code: err.code ?? 'client', message: err.message, rows: [], notices: this.notices };
    }
  }
  async close(): Promise<void> { await this.client.end().catch(() => undefined); }
}

class PostgresJsSession implements Session {
  notices: string[] = [];
  private readonly sql: postgres.Sql;
  constructor(url: string) {
    this.sql = postgres(url, { max: 1, prepare: false, onnotice: (n) => this.notices.push(String(n.message)), connect_timeout: 10, idle_timeout: 0 });
  }
  async run(sql: string | Buffer, params: unknown[] | undefined): Promise<Omit<Outcome, 'forwarded'>> {
    this.notices = [];
    try {
      const rows = await this.sql.unsafe(String(sql), (params ?? []) as postgres.ParameterOrJSON<never>[]);
      return { ok: true, rows: [...rows], rowCount: rows.count, notices: this.notices };
    } catch (e) {
      const err = e as { code?: string; message: string };
      return { ok: false, code: err.code ?? 'client', message: err.message, rows: [], notices: this.notices };
    }
  }
  async close(): Promise<void> { await this.sql.end({ timeout: 2 }).catch(() => undefined); }
}

class PsqlSession implements Session {
  private readonly url: string;
  constructor(url: string) { this.url = url; }
  async run(sql: string | Buffer): Promise<Omit<Outcome, 'forwarded'>> {
    try {
      const { stdout, stderr } = await run('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', this.url, '-c', String(sql)], { maxBuffer: 64 << 20, timeout: 60_000 });
      return { ok: true, rows: stdout.split('\n').filter(Boolean), notices: stderr ? [stderr] : [] };
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      const m = /ERROR:\s+([0-9A-Z]{5}):\s+(.*)/.exec(err.stderr ?? '');
      return { ok: false, code: m?.[1] ?? 'psql', message: m?.[2] ?? (err.stderr || err.message), rows: [], notices: [] };
    }
  }
  async close(): Promise<void> { /* one process per statement */ }
}

class RawWrapped implements Session {
  readonly raw: RawSession;
  constructor(raw: RawSession) { this.raw = raw; }
  async run(sql: string | Buffer): Promise<Omit<Outcome, 'forwarded'>> {
    return fromRaw(await this.raw.query(sql));
  }
  async close(): Promise<void> { await this.raw.close(); }
}

export function fromRaw(r: RawResult): Omit<Outcome, 'forwarded'> {
  return { ok: r.ok, ...(r.ok ? {} : { code: r.code, message: r.message }), rows: [...r.rows, ...r.values], rowCount: r.rows.length, notices: r.notices };
}

// ---------------------------------------------------------------------------------------------
// The environment

export interface StepSpec {
  user: UserName;
  sql?: string | Buffer;
  params?: unknown[];
  /** Client path: node-postgres simple (default) / extended, postgres.js (extended), psql (one shot), raw. */
  via?: Via;
  /** Session name (default: the user). A new name opens a NEW session (new backend connection). */
  session?: string;
  /** StartupMessage parameters of a new raw session (via 'raw'). */
  startup?: Record<string, string>;
  /** Custom action on a raw session (protocol-level attacks); its result is the step's outcome. */
  action?: (raw: RawSession) => Promise<RawResult>;
  /** node-postgres named (protocol-level) prepared statement. */
  name?: string;
  /** COPY … FROM STDIN data (node-postgres + pg-copy-streams). */
  copyIn?: Buffer;
  /**
   * 'ok': must succeed. 'safe': anything (the scan and the fingerprint decide).
   * { refuse }: the proxy itself must answer with one of these SQLSTATEs and forward nothing.
   * { refuseOrOk }: either that, or success, after which `check` must confirm it really worked.
   */
  expect: 'ok' | 'safe' | { refuse: string[] } | { refuseOrOk: string[] };
  /** A refusal of this step by the proxy blocks the attack: later steps are skipped. */
  stopIfRefused?: boolean;
  /** Skip the before/after backend comparison for a reader/nobody step. */
  noFingerprint?: boolean;
  /** Extra check of a successful outcome: a failure message or null. */
  check?: (o: Outcome) => string | null | Promise<string | null>;
}

export const REFUSE_UNSUPPORTED = { refuse: ['0A000'] };
export const REFUSE_GRANT = { refuse: ['42501'] };
/** A no-grant or read-only user's statement whose table the proxy cannot see: 42501 or 0A000 both block it. */
export const REFUSE_ANY = { refuse: ['42501', '0A000'] };
/** Refused as unsupported, or handled correctly by rewriting (then the step's check must pass). */
export const REFUSE_OR_REWRITE = { refuseOrOk: ['0A000'] };

interface Failure { kind: 'step' | 'changed' | 'revealed' | 'leak' | 'check'; message: string }

export class Attack {
  readonly canaries: string[] = [];
  readonly secrets: string[] = [];
  readonly extraForms = new Map<string, Record<string, string>>();
  readonly failures: Failure[] = [];
  readonly trace: string[] = [];
  stopped = false;
  readonly env: AdvEnv;
  constructor(env: AdvEnv) { this.env = env; }

  /** A fresh canary for a value the attacker sends in a protected-column position. */
  canary(extraForms: Record<string, string> = {}): string {
    const c = `CANARY_${randomBytes(6).toString('hex').toUpperCase()}`;
    this.canaries.push(c);
    this.extraForms.set(c, extraForms);
    return c;
  }

  /** A canary the writer stores in a protected column: reader and nobody must never see it in clear. */
  secret(): string {
    const c = this.canary();
    this.secrets.push(c);
    return c;
  }

  fail(message: string, kind: Failure['kind'] = 'check'): void {
    this.failures.push({ kind, message });
  }

  /** Runs one step unless the attack was already blocked; records violations instead of throwing. */
  async step(spec: StepSpec): Promise<Outcome | null> {
    if (this.stopped) return null;
    const label = `[${spec.user}${spec.session && spec.session !== spec.user ? `/${spec.session}` : ''}${spec.via && spec.via !== 'simple' ? ` ${spec.via}` : ''}] ${spec.action ? '(protocol) ' : ''}${short(spec.sql)}`;
    const ro = spec.user !== 'writer' && !spec.noFingerprint;
    const before = ro ? await this.env.fingerprint() : null;
    const o = await this.env.exec(spec);
    const after = ro ? await this.env.fingerprint() : null;
    const refusedByProxy = !o.ok && o.forwarded.length === 0;
    const what = o.ok ? `succeeded (${o.rowCount ?? o.rows.length} rows)` : `${refusedByProxy ? 'refused by the proxy' : 'failed at the backend'} with ${o.code}: ${o.message}`;
    this.trace.push(`${label}\n      → ${what}${o.forwarded.length ? `\n      forwarded: ${CONTENT_FORWARDED(o.forwarded).slice(0, 600)}` : ''}`);
    const exp = spec.expect;
    if (typeof exp === 'object' && 'refuse' in exp) {
      if (o.ok) this.fail(`${label}: expected the proxy to refuse with ${exp.refuse.join('/')}, but it was forwarded and ${what}; forwarded: ${CONTENT_FORWARDED(o.forwarded).slice(0, 400)}`, 'step');
      else if (!refusedByProxy) this.fail(`${label}: expected the proxy to refuse with ${exp.refuse.join('/')}, but it was forwarded (${CONTENT_FORWARDED(o.forwarded).slice(0, 400)}) and the backend answered ${o.code}: ${o.message}`, 'step');
      else if (!exp.refuse.includes(o.code ?? '')) this.fail(`${label}: the proxy refused with ${o.code} (${o.message}), expected ${exp.refuse.join('/')}`, 'step');
    } else if (typeof exp === 'object') {
      if (!o.ok && !refusedByProxy) this.fail(`${label}: expected a refusal (${exp.refuseOrOk.join('/')}) or correct rewriting, but it was forwarded (${CONTENT_FORWARDED(o.forwarded).slice(0, 400)}) and the backend answered ${o.code}: ${o.message}`, 'step');
      else if (!o.ok && !exp.refuseOrOk.includes(o.code ?? '')) this.fail(`${label}: the proxy refused with ${o.code} (${o.message}), expected ${exp.refuseOrOk.join('/')} or correct rewriting`, 'step');
    } else if (exp === 'ok' && !o.ok) {
      this.fail(`${label}: expected success (the proxy should handle this safely), got ${what}`, 'step');
    } else if (exp === 'safe' && !o.ok && !refusedByProxy && !closedByProxy(o) && spec.stopIfRefused) {
      this.fail(`${label}: attack setup step failed at the backend (${o.code}: ${o.message}); the test cannot go on`, 'step');
    }
    if (o.ok && spec.check) {
      const m = await spec.check(o);
      if (m) this.fail(`${label}: ${m}`, 'check');
    }
    if (spec.user !== 'writer') {
      const shown = JSON.stringify([o.rows, o.notices, o.message ?? '']);
      for (const s of this.secrets) if (shown.toUpperCase().includes(s)) this.fail(`${label}: ${spec.user} saw the writer's protected value ${s} in clear: ${shown.slice(0, 300)}`, 'revealed');
    }
    if (before && after) {
      const diff = diffFingerprints(before, after);
      if (diff) this.fail(`${label}: a ${spec.user === 'reader' ? 'read-only' : 'no-grant'} user's statement changed the backend: ${diff}`, 'changed');
    }
    if (!o.ok && (refusedByProxy || closedByProxy(o)) && spec.stopIfRefused) this.stopped = true;
    return o;
  }

  /** The writer reads back through the proxy (no expectation on the step itself beyond success). */
  async readBack(sql: string, session = 'writer-check'): Promise<unknown[]> {
    const o = await this.env.exec({ user: 'writer', session, sql, expect: 'ok' });
    if (!o.ok) this.fail(`read-back «${short(sql)}» failed: ${o.code} ${o.message}`, 'check');
    return o.rows;
  }

  /** Ends the test: closes sessions, scans, throws one error naming the first violation. */
  async finish(): Promise<void> {
    await this.env.closeSessions();
    const findings = await this.env.scan(this.canaries, this.extraForms);
    const leak = findings.length ? formatFindings(findings) : '';
    const primary = this.failures[0];
    if (process.env.ADV_TRACE) console.log(`  steps:\n    ${this.trace.join('\n    ')}${leak ? `\n  leak: ${leak}` : ''}`);
    if (!primary && !leak) return;
    const head = primary ? primary.message : `a canary reached the backend: ${leak}`;
    const extra = primary && leak ? `\n  consequence — canary reached the backend: ${leak}` : '';
    const more = this.failures.slice(1).map((f) => `\n  also: ${f.message}`).join('');
    throw new Error(`${head}${extra}${more}\n  steps:\n    ${this.trace.join('\n    ')}`);
  }
}

/** The proxy ended the session (e.g. after the backend reported an unsafe ParameterStatus). */
function closedByProxy(o: Outcome): boolean {
  return !o.ok && (o.code === 'connection' || o.code === 'client' || /terminat|closed|ECONNRESET|socket|not queryable/i.test(o.message ?? ''));
}

export function formatFindings(f: Finding[]): string {
  const bySource = new Map<string, Finding>();
  for (const x of f) if (!bySource.has(`${x.source}/${x.form}`)) bySource.set(`${x.source}/${x.form}`, x);
  return [...bySource.values()].map((x) => `${x.source} (${x.form}): «${x.excerpt.slice(0, 200)}»`).join('; ');
}

function short(s: string | Buffer | undefined): string {
  if (s === undefined) return '';
  const t = typeof s === 'string' ? s : s.toString('latin1');
  const one = t.replace(/\s+/g, ' ');
  return one.length > 220 ? `${one.slice(0, 200)}… (${t.length} chars)` : one;
}

export function diffFingerprints(a: Map<string, string>, b: Map<string, string>): string | null {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === y) continue;
    if (x === undefined) out.push(`${k} appeared`);
    else if (y === undefined) out.push(`${k} disappeared`);
    else if (k === 'schema') {
      const xl = new Set(x.split('\n'));
      const yl = new Set(y.split('\n'));
      const gone = [...xl].filter((l) => !yl.has(l) && l.trim()).slice(0, 3);
      const added = [...yl].filter((l) => !xl.has(l) && l.trim()).slice(0, 3);
      out.push(`schema changed (-${JSON.stringify(gone)} +${JSON.stringify(added)})`);
    } else out.push(`${k}: ${x.slice(0, 120)} → ${y.slice(0, 120)}`);
  }
  return out.length ? out.join('; ') : null;
}

export class AdvEnv {
  cluster!: PgCluster;
  tap!: WireTap;
  proxy: RunningProxy | null = null;
  private cfg!: ProxyConfigDir;
  private admin0!: pg.Client;
  admin: pg.Client | null = null;
  private sessions = new Map<string, Session>();
  private logOffset = 0;
  private tapBytes = 0;
  private readonly logFile = (): string => join(this.cluster.dir, 'server.log');

  static async start(): Promise<AdvEnv> {
    const e = new AdvEnv();
    e.cluster = await startPostgres();
    appendFileSync(join(e.cluster.dir, 'data', 'postgresql.conf'), LOG_CONFIG);
    e.admin0 = new pg.Client({ host: e.cluster.dir, port: e.cluster.port, user: SUPERUSER, database: 'postgres' });
    await e.admin0.connect();
    await e.admin0.query('SELECT pg_reload_conf()');
    await e.admin0.query(`CREATE ROLE ${OWNER.name} LOGIN PASSWORD '${OWNER.password}'`);
    await e.admin0.query(`CREATE DATABASE adv_tpl OWNER ${OWNER.name}`);
    e.tap = await WireTap.start(e.cluster.host, e.cluster.port);
    e.cfg = writeProxyConfig({
      backends: [{ cluster: { ...e.cluster, port: e.tap.port }, name: B, user: OWNER.name, password: OWNER.password, database: 'adv_tpl' }],
      users: Object.values(USERS),
    });
    mkdirSync(join(e.cfg.dir, 'secrets/keyring'), { recursive: true });
    writeFileSync(join(e.cfg.dir, 'secrets/keyring/default.v1'), randomBytes(32).toString('base64'), { mode: 0o600 });
    e.cfg.config.policy = structuredClone(POLICY);
    e.cfg.write(e.cfg.config);
    // Build the template through the proxy, as an application would.
    await e.startProxy();
    const w = new pg.Client({ connectionString: e.url('writer') });
    await w.connect();
    for (const s of TEMPLATE_SQL) await w.query(s);
    await w.end();
    await e.stopProxy();
    await e.admin0.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'adv_tpl' AND pid <> pg_backend_pid()");
    await e.admin0.query('ALTER DATABASE adv_tpl WITH ALLOW_CONNECTIONS false IS_TEMPLATE true');
    e.cfg.config.backends[0]!.database = 'adv';
    e.cfg.write(e.cfg.config);
    return e;
  }

  url(user: UserName): string {
    if (!this.proxy) throw new Error('proxy not running');
    return this.proxy.url(USERS[user]);
  }

  private async startProxy(): Promise<void> {
    const pipeline = await protectionPipeline({ configDir: this.cfg.dir });
    this.proxy = await startProxyInProcess(this.cfg.dir, { pipeline, watch: false });
  }

  private async stopProxy(): Promise<void> {
    const p = this.proxy;
    this.proxy = null;
    if (p) await Promise.race([p.close(), new Promise((r) => setTimeout(r, 5000))]);
  }

  /** A pristine database from the template, a freshly started proxy, empty recordings. */
  async fresh(): Promise<void> {
    await this.closeSessions();
    await this.stopProxy();
    if (this.admin) {
      // A prepared transaction left by an attack would keep the database from being dropped.
      const px = await this.admin.query<{ gid: string }>("SELECT gid FROM pg_prepared_xacts WHERE database = 'adv'").catch(() => ({ rows: [] }));
      for (const { gid } of px.rows) await this.admin.query(`ROLLBACK PREPARED ${lit(gid)}`).catch(() => undefined);
    }
    await this.admin?.end().catch(() => undefined);
    this.admin = null;
    await this.admin0.query('DROP DATABASE IF EXISTS adv WITH (FORCE)');
    await this.admin0.query(`CREATE DATABASE adv TEMPLATE adv_tpl OWNER ${OWNER.name}`);
    await this.admin0.query(`ALTER ROLE ${OWNER.name} RESET ALL`);
    this.admin = new pg.Client({ host: this.cluster.dir, port: this.cluster.port, user: SUPERUSER, database: 'adv' });
    await this.admin.connect();
    await this.admin.query("SET lock_timeout = '3s'");
    await this.startProxy();
    this.tap.trim();
    this.tapBytes = this.tap.mark().bytes;
    this.logOffset = statSync(this.logFile()).size;
  }

  async session(user: UserName, name: string, via: Via, startup?: Record<string, string>): Promise<Session | { code: string; message: string }> {
    const key = `${name}:${via === 'raw' ? 'raw' : via === 'postgresjs' ? 'js' : via === 'psql' ? 'psql' : 'pg'}`;
    const have = this.sessions.get(key);
    if (have) return have;
    let s: Session;
    if (via === 'raw') {
      const r = await RawSession.open(this.proxy!.port, USERS[user].name, USERS[user].password, { database: 'adv', ...startup });
      if (!(r instanceof RawSession)) return r;
      s = new RawWrapped(r);
      s.raw = r;
    } else if (via === 'postgresjs') s = new PostgresJsSession(this.url(user));
    else if (via === 'psql') s = new PsqlSession(this.url(user));
    else {
      try { s = await PgSession.open(this.url(user)); } catch (e) { const err = e as { code?: string; message: string }; return { code: err.code ?? 'connect', message: err.message }; }
    }
    this.sessions.set(key, s);
    return s;
  }

  async exec(spec: StepSpec): Promise<Outcome> {
    const via: Via = spec.action || spec.startup ? 'raw' : spec.via ?? 'simple';
    const mark = this.tap.mark();
    const s = await this.session(spec.user, spec.session ?? spec.user, via, spec.startup);
    const forwarded = () => this.tap.forwardedSince(mark.seq);
    if (!('run' in s)) return { ok: false, code: s.code, message: `connection refused: ${s.message}`, rows: [], notices: [], forwarded: forwarded() };
    let o: Omit<Outcome, 'forwarded'>;
    try {
      if (spec.action) o = fromRaw(await spec.action(s.raw!));
      else if (spec.copyIn) {
        if (!s.copyIn) throw new Error('COPY FROM STDIN needs a node-postgres session');
        o = await s.copyIn(String(spec.sql), spec.copyIn);
      } else o = await s.run(spec.sql ?? '', spec.params, via, spec.name);
    } catch (e) {
      o = { ok: false, code: 'connection', message: (e as Error).message, rows: [], notices: [] };
    }
    // Let the tap see bytes still in flight (a pass-through statement's bytes precede its answer,
    // but a refused one may be followed by a late write).
    await new Promise((r) => setTimeout(r, 20));
    return { ...o, forwarded: forwarded() };
  }

  async closeSessions(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.close().catch(() => undefined)));
  }

  private pgArgs(): string[] { return ['-h', this.cluster.dir, '-p', String(this.cluster.port), '-U', SUPERUSER]; }

  private async dumpText(): Promise<string> {
    const parts: string[] = [];
    const { stdout } = await run(join(PG_BIN, 'pg_dump'), [...this.pgArgs(), '--create', '--lock-wait-timeout=5000', 'adv'], { maxBuffer: 512 << 20 });
    if (!stdout.includes('PostgreSQL database dump')) throw new Error('pg_dump produced no dump');
    parts.push(stdout);
    const g = await run(join(PG_BIN, 'pg_dumpall'), [...this.pgArgs(), '--globals-only'], { maxBuffer: 64 << 20 });
    parts.push(g.stdout);
    return parts.join('\n');
  }

  private readLogSince(offset: number): string {
    const fd = openSync(this.logFile(), 'r');
    try {
      const size = statSync(this.logFile()).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      readSync(fd, buf, 0, buf.length, offset);
      return buf.toString('latin1');
    } finally { closeSync(fd); }
  }

  /** Positions of the recordings, for scans over a window (the property test's batches). */
  marks(): { log: number; tap: number } {
    return { log: statSync(this.logFile()).size, tap: this.tap.mark().bytes };
  }

  /**
   * Every place a canary shows up: pg_dump (+ globals), the server log and the proxy→backend
   * bytes since the test (or the given marks) began, in text, hex, bytea-escape and base64 forms.
   */
  async scan(canaries: string[], extra: Map<string, Record<string, string>> = new Map(), since?: { log: number; tap: number }): Promise<Finding[]> {
    if (canaries.length === 0) return [];
    const out: Finding[] = [];
    let dump: string;
    try { dump = await this.dumpText(); } catch (e) { dump = ''; out.push({ canary: '*', form: '-', source: 'pg_dump', excerpt: `pg_dump failed: ${(e as Error).message.slice(0, 300)}` }); }
    const log = this.readLogSince(since?.log ?? this.logOffset);
    const wireText = this.tap.bytesSince(since?.tap ?? this.tapBytes).toString('latin1');
    const sources: Array<[string, string]> = [['pg_dump', dump], ['server log', log], ['wire to backend', wireText]];
    const lowered = sources.map(([n, t]) => [n, t, t.toLowerCase()] as const);
    for (const c of canaries) for (const [n, t, l] of lowered) out.push(...findIn(t, l, n, c, extra.get(c) ?? {}));
    return out;
  }

  /** A comparable picture of everything in the backend that a read-only user must not change. */
  async fingerprint(): Promise<Map<string, string>> {
    const fp = new Map<string, string>();
    const a = this.admin!;
    try {
      const { stdout } = await run(join(PG_BIN, 'pg_dump'), [...this.pgArgs(), '--schema-only', '--lock-wait-timeout=2000', 'adv'], { maxBuffer: 64 << 20 });
      fp.set('schema', stdout.split('\n').filter((l) => !/^\\(un)?restrict /.test(l)).join('\n'));
    } catch (e) {
      fp.set('schema', `pg_dump failed: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`);
    }
    const q = async (key: string, sql: string): Promise<void> => {
      try {
        const r = await a.query<{ x: string | null }>(sql);
        fp.set(key, r.rows.map((x) => x.x ?? '').join('\n'));
      } catch (e) { fp.set(key, `error: ${(e as Error).message}`); }
    };
    const rels = await a.query<{ n: string; k: string; f: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS n, c.relkind::text AS k, c.relfilenode::text AS f FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' ORDER BY 1`);
    fp.set('relfilenodes', rels.rows.map((r) => `${r.n}:${r.k}:${r.f}`).join(' '));
    for (const r of rels.rows.filter((x) => x.k === 'r' || x.k === 'p' || x.k === 'm')) {
      await q(`rows of ${r.n}`, `SELECT count(*) || ' rows, ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') || ', tuples ' || coalesce(md5(string_agg(ctid::text || ':' || xmin::text || ':' || xmax::text, ',' ORDER BY ctid)), '-') AS x FROM ${r.n} t`);
    }
    await q('role and database settings', "SELECT coalesce(d.datname, '*') || ' ' || coalesce(r.rolname, '*') || ' ' || s.setconfig::text AS x FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1");
    await q('relation locks held by sessions', "SELECT l.relation::regclass::text || ' ' || l.mode AS x FROM pg_locks l WHERE l.pid <> pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.mode <> 'AccessShareLock' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1");
    await q('prepared transactions', 'SELECT gid AS x FROM pg_prepared_xacts ORDER BY 1');
    await q('large objects', "SELECT count(*) || ' ' || coalesce(md5(string_agg(loid::text || ':' || pageno::text || ':' || md5(data), ',' ORDER BY loid, pageno)), '-') AS x FROM pg_largeobject");
    await q('descriptions', "SELECT classoid::regclass::text || ':' || objoid::text || ':' || objsubid::text || ':' || description AS x FROM pg_description WHERE objoid >= 16384 ORDER BY 1");
    return fp;
  }

  async close(): Promise<void> {
    await this.closeSessions();
    await this.stopProxy();
    await this.admin?.end().catch(() => undefined);
    await this.admin0?.end().catch(() => undefined);
    await this.tap?.close();
    this.cfg?.destroy();
    await this.cluster?.destroy();
  }
}

/** Hex of a text value (how a plaintext value lands in a bytea column, and how the dump shows it). */
export const hexOf = (s: string): string => Buffer.from(s, 'utf8').toString('hex');
/** The bits of a text value, as B'…' spells them. */
export const bitsOf = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => b.toString(2).padStart(8, '0')).join('');
/** The text reversed: a statement can carry reverse($$<reversed canary>$$) without the canary in its text. */
export const rev = (s: string): string => [...s].reverse().join('');

/** A check that the writer reads back exactly `expected` through the proxy ("the proxy handled it, and it worked"). */
export function readsBack(t: Attack, sql: string, expected: Array<Record<string, unknown>>): () => Promise<string | null> {
  return async () => {
    const rows = await t.readBack(sql);
    const norm = (r: unknown[]) => JSON.stringify(r.map((x) => Object.fromEntries(Object.entries(x as Record<string, unknown>).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]))));
    return norm(rows) === norm(expected) ? null : `handled without refusal, but the writer reads back ${norm(rows)} instead of ${norm(expected)} («${sql}»)`;
  };
}

/** SQL string literal. */
export const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;

// ---------------------------------------------------------------------------------------------
// vitest wiring: one environment per test file, one fresh database + proxy per test.

import { afterAll, beforeAll, it } from 'vitest';

export function adversarialSuite(): { attack: (name: string, fn: (t: Attack) => Promise<void>) => void; env: () => AdvEnv } {
  let env: AdvEnv | undefined;
  beforeAll(async () => { env = await AdvEnv.start(); }, 180_000);
  afterAll(async () => { await env?.close(); });
  const attack = (name: string, fn: (t: Attack) => Promise<void>): void => {
    it(name, async () => {
      if (!env) throw new Error('environment not started');
      await env.fresh();
      const t = new Attack(env);
      await fn(t);
      await t.finish();
    });
  };
  return { attack, env: () => env as AdvEnv };
}
