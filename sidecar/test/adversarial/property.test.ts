// Property: for EVERY statement built from a small grammar that mixes protected and plain tables,
// CTEs, subqueries, LATERAL, set operations, DML in WITH, COPY forms, EXPLAIN, PREPARE/EXECUTE,
// DO, MERGE, ON CONFLICT, literal forms (E'', U&'', $$, $tag$, B'', continuation, casts,
// concatenation, parameters) and interleaved SET/RESET/transaction commands — each statement
// carrying a fresh canary in a protected-column position — either the proxy refuses it, or after it
// ran the canary is nowhere in the backend (pg_dump, server log, bytes on the wire).
//
// Statements run in batches of BATCH through one writer session (raw protocol: simple Query, or
// Parse/Bind/Execute when the canary is a parameter; a session the proxy closes is reopened), on a
// fresh database and proxy per batch; the scan runs once per batch. Every canary is unique, so a
// hit names its statement directly; the statement is then replayed alone on a fresh database, and
// if it does not leak alone, the batch prefix is bisected to the shortest window ending with it
// that still leaks (typically a SET that changed how the backend reads the statement).
// ADV_PROPERTY_RUNS (batches, default 50), ADV_PROPERTY_SEED and ADV_PROPERTY_SKIP tune a run.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { it } from 'vitest';
import { adversarialSuite, bitsOf, formatFindings, hexOf, USERS } from './harness.ts';
import type { AdvEnv, Finding } from './harness.ts';
import { RawSession, wire } from './raw.ts';
import type { RawResult } from './raw.ts';

const { env } = adversarialSuite();
const BATCH = 100;
const RUNS = Number(process.env.ADV_PROPERTY_RUNS ?? 50);

interface Target { table: string; key: string; col: string; fill: string; fillVal: string }
const TARGETS: Target[] = [
  { table: 'patient', key: 'id', col: 'name', fill: '', fillVal: '' },
  { table: 'patient', key: 'id', col: 'ssn', fill: ', name', fillVal: ", 'n'" },
  { table: 'patient', key: 'id', col: 'diag', fill: ', name', fillVal: ", 'n'" },
  { table: 'patient', key: 'id', col: 'zip', fill: ', name', fillVal: ", 'n'" },
  { table: 'patient', key: 'id', col: 'phone', fill: ', name', fillVal: ", 'n'" },
  { table: 'visit', key: 'visit_id', col: 'reason', fill: ', pat_id', fillVal: ', 1' },
  { table: 'visit', key: 'visit_id', col: 'memo', fill: ', pat_id', fillVal: ', 1' },
  { table: 'archive.patient', key: 'id', col: 'note', fill: '', fillVal: '' },
  { table: 'public.patient', key: 'id', col: 'diag', fill: ', name', fillVal: ", 'n'" },
  { table: '"patient"', key: 'id', col: '"ssn"', fill: ', name', fillVal: ", 'n'" },
];

// ADV_PROPERTY_SKIP=zip,phone leaves target columns out (to look past a known, unfixed leak).
const SKIP = new Set((process.env.ADV_PROPERTY_SKIP ?? '').split(',').filter(Boolean));
const ACTIVE = TARGETS.filter((t) => !SKIP.has(t.col.replace(/"/g, '')));

type Lit = (c: string) => string;
const LITS: Array<[string, Lit]> = [
  ['plain', (c) => `'${c}'`],
  ['E', (c) => `E'${c}'`],
  ['E-hex', (c) => `E'\\x${hexOf(c[0] as string)}${c.slice(1)}'`],
  ['U&', (c) => `U&'\\${c.charCodeAt(0).toString(16).padStart(4, '0')}${c.slice(1)}'`],
  ['dollar', (c) => `$$${c}$$`],
  ['tagged-dollar', (c) => `$lit$${c}$lit$`],
  ['continuation', (c) => `'${c.slice(0, 5)}'\n'${c.slice(5)}'`],
  ['cast', (c) => `'${c}'::text`],
  ['concat', (c) => `'${c.slice(0, 5)}' || '${c.slice(5)}'`],
  ['bits', (c) => `B'${bitsOf(c)}'`],
];

type Kind = (t: Target, v: string, k: number) => string;
const q = (t: Target) => t.col;
const KINDS: Array<[string, Kind]> = [
  ['insert', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, ${v})`],
  ['update', (t, v) => `UPDATE ${t.table} SET ${q(t)} = ${v} WHERE ${t.key} = 1`],
  ['select-eq', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ${v}`],
  ['select-in', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} IN (${v}, 'x')`],
  ['delete', (t, v) => `DELETE FROM ${t.table} WHERE ${q(t)} = ${v}`],
  ['cte', (t, v) => `WITH c AS (SELECT ${t.key} AS k, ${q(t)} AS v FROM ${t.table}) SELECT k FROM c WHERE v = ${v}`],
  ['from-subquery', (t, v) => `SELECT s.k FROM (SELECT ${t.key} AS k FROM ${t.table} WHERE ${q(t)} = ${v}) s JOIN scratch x ON x.id = s.k`],
  ['lateral', (t, v) => `SELECT l.one FROM ${t.table} tt, LATERAL (SELECT 1 AS one FROM scratch sc WHERE tt.${q(t)} = ${v}) l`],
  ['exists', (t, v) => `SELECT id FROM scratch sc WHERE EXISTS (SELECT 1 FROM ${t.table} tt WHERE tt.${q(t)} = ${v})`],
  ['in-subquery', (t, v) => `SELECT id FROM scratch WHERE id IN (SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ${v})`],
  ['scalar-subquery', (t, v) => `SELECT (SELECT count(*) FROM ${t.table} WHERE ${q(t)} = ${v}) AS n`],
  ['union-all', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ${v} UNION ALL SELECT id FROM scratch`],
  ['except', (t, v) => `SELECT id FROM scratch EXCEPT SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ${v}`],
  ['join-on', (t, v) => `SELECT sc.id FROM scratch sc JOIN ${t.table} tt ON tt.${q(t)} = ${v}`],
  ['with-insert-delete', (t, v, k) => `WITH w AS (INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, ${v}) RETURNING 1) DELETE FROM scratch WHERE false`],
  ['with-update-select', (t, v) => `WITH w AS (UPDATE ${t.table} SET ${q(t)} = ${v} WHERE ${t.key} = 1 RETURNING 1) SELECT count(*) FROM w`],
  ['with-delete-update', (t, v) => `WITH d AS (DELETE FROM ${t.table} WHERE ${q(t)} = ${v} RETURNING 1) UPDATE scratch SET t = t WHERE false`],
  ['copy-select', (t, v) => `COPY (SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ${v}) TO STDOUT`],
  ['copy-insert', (t, v, k) => `COPY (INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, ${v}) RETURNING ${t.key}) TO STDOUT (FORMAT csv)`],
  ['explain', (t, v) => `EXPLAIN (VERBOSE, COSTS OFF) SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ${v}`],
  ['explain-analyze-insert', (t, v, k) => `EXPLAIN ANALYZE INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, ${v})`],
  ['insert-select', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) SELECT ${k}${t.fillVal}, ${v}`],
  ['on-conflict', (t, v) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (1${t.fillVal}, 'x') ON CONFLICT (${t.key}) DO UPDATE SET ${q(t)} = ${v}`],
  ['merge', (t, v) => `MERGE INTO ${t.table} tt USING (SELECT 1 AS k) s ON tt.${t.key} = s.k WHEN MATCHED THEN UPDATE SET ${q(t)} = ${v}`],
  ['prepare-execute', (t, v, k) => `PREPARE pq${k} AS SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = $1; EXECUTE pq${k}(${v})`],
  ['do-block', (t, v) => `DO $do$ BEGIN PERFORM 1 FROM ${t.table} WHERE ${q(t)} = ${v}; END $do$`],
  ['two-statements', (t, v, k) => `SELECT 1; INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, ${v})`],
  ['trailing-comment', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ${v} -- ' ; `],
  ['update-row', (t, v) => `UPDATE ${t.table} SET (${q(t)}) = ROW(${v}) WHERE ${t.key} = 1`],
  ['update-subselect', (t, v) => `UPDATE ${t.table} SET (${q(t)}) = (SELECT ${v}) WHERE ${t.key} = 1`],
  ['update-from-values', (t, v) => `UPDATE ${t.table} SET ${q(t)} = x.v FROM (VALUES (${v})) x(v) WHERE ${t.key} = 1`],
  ['update-returning', (t, v) => `UPDATE ${t.table} SET ${q(t)} = ${v} WHERE ${t.key} = 1 RETURNING ${q(t)}`],
  ['insert-values-subquery', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) SELECT * FROM (VALUES (${k}${t.fillVal}, ${v})) x`],
  ['insert-multirow', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, 'x'), (${k + 500}${t.fillVal}, ${v})`],
  ['insert-cte-values', (t, v, k) => `WITH x(a) AS (VALUES (${v})) INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) SELECT ${k}${t.fillVal}, a FROM x`],
  ['insert-case', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, CASE WHEN true THEN ${v} END)`],
  ['update-coalesce', (t, v) => `UPDATE ${t.table} SET ${q(t)} = coalesce(${v}, 'x') WHERE ${t.key} = 1`],
  ['any-array', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = ANY (ARRAY[${v}])`],
  ['row-compare', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE (${q(t)}, ${t.key}) = (${v}, 1)`],
  ['not-distinct', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} IS NOT DISTINCT FROM ${v}`],
  ['not-equal', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} <> ${v}`],
  ['commuted', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${v} = ${q(t)}`],
  ['having', (t, v) => `SELECT count(*) FROM ${t.table} GROUP BY ${q(t)} HAVING ${q(t)} = ${v}`],
  ['values-list', (t, v) => `SELECT * FROM (VALUES (${v})) x(v) WHERE EXISTS (SELECT 1 FROM ${t.table} tt WHERE tt.${q(t)} = x.v)`],
  // A value next to the column in forms no protection can rewrite (refused) or only some can.
  ['like', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} LIKE ${v}`],
  ['range', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} > ${v}`],
  ['function-compare', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE upper(${q(t)}) = ${v}`],
  ['concat-compare', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} || 'x' = ${v}`],
  ['simple-case', (t, v) => `SELECT CASE ${q(t)} WHEN ${v} THEN 1 ELSE 0 END AS k FROM ${t.table}`],
  ['searched-case', (t, v) => `SELECT CASE WHEN ${q(t)} = ${v} THEN 1 ELSE 0 END AS k FROM ${t.table}`],
  ['coalesce', (t, v) => `SELECT coalesce(${q(t)}, ${v}) AS k FROM ${t.table}`],
  ['distinct-from', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} IS DISTINCT FROM ${v}`],
  ['cte-like', (t, v) => `WITH c AS (SELECT ${t.key} AS k, ${q(t)} AS v FROM ${t.table}) SELECT k FROM c WHERE v LIKE ${v}`],
  ['subquery-compare', (t, v) => `SELECT s.k FROM (SELECT ${t.key} AS k, ${q(t)} AS c FROM ${t.table}) s WHERE s.c = ${v}`],
  ['filter', (t, v) => `SELECT count(*) FILTER (WHERE ${q(t)} = ${v}) AS n FROM ${t.table}`],
  ['all-subquery', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} <> ALL (SELECT ${v})`],
  ['scalar-subquery-compare', (t, v) => `SELECT ${t.key} FROM ${t.table} WHERE ${q(t)} = (SELECT ${v})`],
  ['on-conflict-where', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}) VALUES (${k}${t.fillVal}) ON CONFLICT (${t.key}) WHERE ${q(t)} = ${v} DO NOTHING`],
  ['cast-bytea', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, ${v}::bytea)`],
  ['cast-varchar-n', (t, v, k) => `INSERT INTO ${t.table} (${t.key}${t.fill}, ${q(t)}) VALUES (${k}${t.fillVal}, ${v}::varchar(12))`],
  ['set-other-column', (t, v) => `UPDATE ${t.table} SET ${t.key} = ${t.key} WHERE ${q(t)} IN (${v})`],
];
/** Kinds whose value may also be sent as a Bind parameter ($1) instead of a literal. */
const PARAM_KINDS = new Set(['insert', 'update', 'select-eq', 'delete', 'cte', 'lateral', 'union-all', 'insert-select', 'update-row', 'insert-multirow', 'any-array', 'commuted', 'values-list', 'update-from-values',
  'like', 'range', 'function-compare', 'simple-case', 'distinct-from', 'subquery-compare', 'filter', 'cast-bytea', 'set-other-column']);

const SETS = [
  'SET standard_conforming_strings = off', 'SET standard_conforming_strings = on', 'SET search_path = archive, public',
  'SET search_path = public', 'RESET ALL', 'DISCARD ALL', "SET client_encoding = 'SJIS'", "SET client_encoding = 'UTF8'",
  "SELECT set_config('search_path', 'archive, public', false)", 'SET backslash_quote = on', 'BEGIN', 'COMMIT', 'ROLLBACK',
  "SET application_name = 'property'", 'SET LOCAL search_path = archive', 'CREATE TEMP TABLE IF NOT EXISTS patient (id integer, name text)',
];

type Template = { set: string } | { kind: number; target: number; lit: number; param: boolean };
const templateArb: fc.Arbitrary<Template> = fc.oneof(
  { weight: 17, arbitrary: fc.record({ kind: fc.nat(KINDS.length - 1), target: fc.nat(ACTIVE.length - 1), lit: fc.nat(LITS.length - 1), param: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constantFrom(...SETS).map((set) => ({ set })) },
);

interface Stmt { label: string; sql: string; params?: string[]; canary?: string; extra?: Record<string, string> }

function concretize(tp: Template, k: number): Stmt {
  if ('set' in tp) return { label: 'setting', sql: tp.set };
  const c = `CANARY_${randomBytes(6).toString('hex').toUpperCase()}`;
  const [kindName, kind] = KINDS[tp.kind]!;
  const target = ACTIVE[tp.target]!;
  if (tp.param && PARAM_KINDS.has(kindName)) {
    return { label: `${kindName} $1 → ${target.table}.${target.col}`, sql: kind(target, '$1', k), params: [c], canary: c };
  }
  const [litName, lit] = LITS[tp.lit]!;
  return {
    label: `${kindName} ${litName} → ${target.table}.${target.col}`, sql: kind(target, lit(c), k), canary: c,
    ...(litName === 'bits' ? { extra: { 'bit string': bitsOf(c) } } : {}),
  };
}

async function openWriter(e: AdvEnv): Promise<RawSession> {
  const r = await RawSession.open(e.proxy!.port, USERS.writer.name, USERS.writer.password, { database: 'adv' });
  if (!(r instanceof RawSession)) throw new Error(`writer could not connect: ${r.code} ${r.message}`);
  return r;
}

interface Ran { stmt: Stmt; outcome: string; kind: 'ran' | 'refused' | 'backend error' | 'session' }
const tally = { ran: 0, refused: 0, 'backend error': 0, session: 0 };

/** Fresh database and proxy; runs the statements in one writer session; scans for their canaries. */
async function runBatch(e: AdvEnv, stmts: Stmt[]): Promise<{ ran: Ran[]; findings: Finding[] }> {
  await e.fresh();
  const since = e.marks();
  let raw = await openWriter(e);
  const ran: Ran[] = [];
  for (const s of stmts) {
    let r: RawResult | null = null;
    let outcome: string;
    let kind: Ran['kind'] = 'session';
    const mark = e.tap.mark();
    try {
      if (raw.closed) raw = await openWriter(e);
      if (s.params) {
        raw.send(wire.parse('', s.sql), wire.bind('', '', s.params), wire.execute(), wire.sync());
        r = await raw.collect();
      } else r = await raw.query(s.sql);
      outcome = r.ok ? 'ok' : `${r.code} ${r.message ?? ''}`.slice(0, 160);
      kind = r.ok ? 'ran' : e.tap.forwardedSince(mark.seq).length === 0 ? 'refused' : 'backend error';
    } catch (err) {
      outcome = `session error: ${(err as Error).message}`;
      try { raw = await openWriter(e); } catch { /* next statement retries */ }
    }
    ran.push({ stmt: s, outcome, kind });
  }
  await raw.close();
  await e.closeSessions();
  const canaries = stmts.flatMap((s) => (s.canary ? [s.canary] : []));
  const extra = new Map(stmts.flatMap((s) => (s.canary && s.extra ? [[s.canary, s.extra] as const] : [])));
  return { ran, findings: await e.scan(canaries, extra, since) };
}

async function leaks(e: AdvEnv, stmts: Stmt[], canary: string): Promise<boolean> {
  const { findings } = await runBatch(e, stmts);
  return findings.some((f) => f.canary === canary);
}

/** The shortest window batch[k..i] (k as late as possible) that still leaks statement i's canary. */
async function minimize(e: AdvEnv, batch: Stmt[], i: number): Promise<{ window: Stmt[]; note: string }> {
  const target = batch[i]!;
  const canary = target.canary!;
  if (await leaks(e, [target], canary)) return { window: [target], note: 'leaks on its own' };
  if (!(await leaks(e, batch.slice(0, i + 1), canary))) return { window: [target], note: 'did not leak again when replayed (order- or timing-dependent)' };
  let lo = 0;
  let hi = i - 1; // invariant: batch[lo..i] leaks
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await leaks(e, batch.slice(mid, i + 1), canary)) lo = mid;
    else hi = mid - 1;
  }
  return { window: batch.slice(lo, i + 1), note: `leaks after statement ${lo} of the batch` };
}

const show = (s: Stmt): string => `${s.sql.replace(/\s+/g, ' ').slice(0, 260)}${s.params ? `  [params: ${JSON.stringify(s.params)}]` : ''}`;

it(`every generated statement is refused or leaves no canary in the backend (${RUNS} batches of ${BATCH})`, async () => {
  const e = env();
  let batchNo = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(templateArb, { minLength: BATCH, maxLength: BATCH }), async (templates) => {
      const base = 10_000 + (batchNo++ % 50) * 1000;
      const batch = templates.map((tp, i) => concretize(tp, base + i));
      const { ran, findings } = await runBatch(e, batch);
      for (const r of ran) if (r.stmt.canary) tally[r.kind]++;
      if (findings.length === 0) return;
      const hit = new Set(findings.map((f) => f.canary));
      const offenders = batch.map((s, i) => [s, i] as const).filter(([s]) => s.canary && hit.has(s.canary));
      const byLabel = new Map<string, number>();
      for (const [s] of offenders) { const k = s.label.replace(/ → .*/, ''); byLabel.set(k, (byLabel.get(k) ?? 0) + 1); }
      const lines: string[] = [];
      for (const [s, i] of offenders.slice(0, 3)) {
        const m = await minimize(e, batch, i);
        lines.push(`  #${i} ${s.label} (${m.note}; outcome in the batch: ${ran[i]!.outcome})\n      ${m.window.map(show).join('\n      ')}\n      found: ${formatFindings(findings.filter((f) => f.canary === s.canary))}`);
      }
      for (const [s, i] of offenders.slice(3, 25)) lines.push(`  #${i} ${s.label} (outcome: ${ran[i]!.outcome}): ${show(s)}`);
      throw new Error(`${offenders.length} of ${batch.length} statements left their canary in the backend (by shape: ${[...byLabel].map(([k, n]) => `${k} ×${n}`).join(', ')}):\n${lines.join('\n')}`);
    }),
    { numRuns: RUNS, endOnFailure: true, ...(process.env.ADV_PROPERTY_SEED ? { seed: Number(process.env.ADV_PROPERTY_SEED) } : {}) },
  ).finally(() => {
    // How much the property actually exercised: statements with a canary that ran, were refused, failed.
    console.log(`adversarial property: canary statements ${JSON.stringify(tally)}`);
  });
}, 900_000);
