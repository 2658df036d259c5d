// Random SELECTs over the eHealth tables (patient: randomized name, searchable randomized ssn,
// deterministic diagnosis; visit: deterministic reason, randomized notes) for the two-stage
// differential test: projections with functions and operators, predicates the backend can and
// cannot evaluate, joins, EXISTS subqueries, GROUP BY/HAVING, DISTINCT, windows, ORDER BY with
// LIMIT/OFFSET. Seeded: a failing statement is reproduced from its seed.

export interface Generated {
  sql: string;
  params: unknown[];
  /** ORDER BY fixes the order of every row (all outputs are sort keys): compare in order. */
  ordered: boolean;
}

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type R = () => number;
const pick = <T>(r: R, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const chance = (r: R, p: number): boolean => r() < p;

const TEXT_FN = ['upper(%)', 'lower(%)', 'initcap(%)', 'length(%)', 'substr(%, 2, 3)', "coalesce(%, 'none')", "% || '/x'", 'left(%, 4)', 'reverse(%)',
  "replace(%, 'a', 'A')", 'md5(%)', "split_part(%, ' ', 1)", 'btrim(%)', "position('e' in %)", 'octet_length(%)', "% IS NULL", "lpad(%, 12, '*')"];
const PAT_TEXT = ['p.pat_name', 'p.pat_ssn', 'p.diagnosis'];
const VISIT_TEXT = ['v.reason', 'v.notes'];
const LIKE = ["'%a%'", "'A%'", "'%canary'", "'%-10%'", "'_o%'", "'%e_'"];
const CONSTS = ["'flu'", "'asthma'", "'ann lee-canary'", "'123-45-1007'", "'M'", "'b'"];

function textExpr(r: R, cols: readonly string[]): string {
  const c = pick(r, cols);
  return chance(r, 0.7) ? pick(r, TEXT_FN).replace('%', c) : c;
}

function pushable(r: R, join: boolean): string {
  const forms = [
    () => `p.pat_id ${pick(r, ['=', '<', '>', '<>', '>='])} ${Math.floor(r() * 40)}`,
    () => `p.diagnosis = ${pick(r, ["'flu'", "'asthma'", "'covid'"])}`,
    () => `p.pat_ssn = '123-45-${1000 + Math.floor(r() * 40)}'`,
    () => `p.diagnosis IS ${chance(r, 0.5) ? '' : 'NOT '}NULL`,
    () => `p.pat_id IN (${[1, 2, 3].map(() => Math.floor(r() * 40)).join(', ')})`,
    () => 'EXISTS (SELECT 1 FROM visit w WHERE w.pat_id = p.pat_id AND w.visit_id > 40)',
  ];
  if (join) forms.push(() => `v.reason = ${pick(r, ["'check'", "'fever'"])}`, () => `v.visit_id < ${Math.floor(r() * 80)}`);
  return pick(r, forms)();
}

function residual(r: R, cols: readonly string[]): string {
  const c = pick(r, cols);
  const forms = [
    () => `${c} LIKE ${pick(r, LIKE)}`,
    () => `${c} ILIKE ${pick(r, LIKE)}`,
    () => `${c} ${pick(r, ['<', '>', '<=', '>='])} ${pick(r, CONSTS)}`,
    () => `length(${c}) ${pick(r, ['<', '>'])} ${Math.floor(r() * 20)}`,
    () => `upper(${c}) = upper(${pick(r, CONSTS)})`,
    () => `${c} NOT LIKE ${pick(r, LIKE)}`,
    () => `coalesce(${c}, '') <> ''`,
    () => `${c} BETWEEN 'a' AND 'n'`,
    () => `${c} ~ '^[A-Za-z]'`,
  ];
  return pick(r, forms)();
}

function where(r: R, cols: readonly string[], join: boolean): string {
  const n = Math.floor(r() * 4);
  const parts = Array.from({ length: n }, () => (chance(r, 0.5) ? pushable(r, join) : residual(r, cols)));
  if (n > 1 && chance(r, 0.2)) return ` WHERE (${parts[0]}) OR (${parts.slice(1).join(' AND ')})`;
  return n === 0 ? '' : ` WHERE ${parts.join(' AND ')}`;
}

function grouped(r: R, cols: readonly string[], from: string, w: string): Generated {
  const key = textExpr(r, cols);
  // string_agg is ordered by its own argument: ties then give the same text.
  const aggs = ['count(*)', `max(${pick(r, cols)})`, `min(${pick(r, cols)})`, `count(DISTINCT ${pick(r, cols)})`, ((x: string) => `string_agg(${x}, ',' ORDER BY ${x})`)(pick(r, cols)), 'sum(p.pat_id)'];
  const outs = [key, pick(r, aggs), pick(r, aggs)];
  const having = chance(r, 0.3) ? ' HAVING count(*) > 1' : '';
  return { sql: `SELECT ${outs.join(', ')} FROM ${from}${w} GROUP BY 1${having} ORDER BY 1, 2, 3`, params: [], ordered: true };
}

const SET_OPS = ['UNION', 'UNION ALL', 'INTERSECT', 'EXCEPT', 'EXCEPT ALL'];

/** Two to four SELECTs (over patient or visit) combined by set operations, some nested in parentheses. */
function setOperation(r: R): Generated {
  const arm = (): string => (chance(r, 0.5)
    ? `SELECT ${textExpr(r, PAT_TEXT)}, p.pat_id FROM patient p${where(r, PAT_TEXT, false)}`
    : `SELECT ${textExpr(r, VISIT_TEXT)}, v.pat_id FROM visit v${chance(r, 0.5) ? ` WHERE ${residual(r, VISIT_TEXT)}` : ''}`);
  const n = chance(r, 0.5) ? 2 : 3 + Math.floor(r() * 2);
  let sql = arm();
  for (let i = 1; i < n; i++) {
    const next = chance(r, 0.3) ? `(${arm()} ${pick(r, SET_OPS)} ${arm()})` : arm();
    sql = `${sql} ${pick(r, SET_OPS)} ${next}`;
  }
  const ordered = chance(r, 0.5);
  const tail = ordered ? ` ORDER BY 1, 2${chance(r, 0.5) ? ` LIMIT ${1 + Math.floor(r() * 8)}` : ''}` : '';
  return { sql: `${sql}${tail}`, params: [], ordered };
}

/** WITH queries that compute on encrypted columns, read by a main statement that groups, joins or sorts them. */
function withQueries(r: R): Generated {
  const t = `t AS (SELECT p.pat_id, ${textExpr(r, PAT_TEXT)} AS a, ${textExpr(r, PAT_TEXT)} AS b FROM patient p${where(r, PAT_TEXT, false)})`;
  if (chance(r, 0.5)) {
    return { sql: `WITH ${t} SELECT a, count(*), max(b) FROM t GROUP BY a ORDER BY 1, 2, 3`, params: [], ordered: true };
  }
  const u = `u AS (SELECT v.pat_id, ${textExpr(r, VISIT_TEXT)} AS c FROM visit v${chance(r, 0.5) ? ` WHERE ${residual(r, VISIT_TEXT)}` : ''})`;
  return { sql: `WITH ${t}, ${u} SELECT t.a, u.c, t.pat_id FROM t JOIN u ON u.pat_id = t.pat_id ORDER BY 1, 2, 3`, params: [], ordered: true };
}

/** One random statement. */
export function generate(seed: number): Generated {
  const r = rng(seed);
  const join = chance(r, 0.3);
  const from = join ? 'patient p JOIN visit v ON v.pat_id = p.pat_id' : 'patient p';
  const cols = join ? [...PAT_TEXT, ...VISIT_TEXT] : PAT_TEXT;
  const w = where(r, cols, join);
  if (chance(r, 0.2)) return grouped(r, cols, from, w);
  if (chance(r, 0.12)) return setOperation(r);
  if (chance(r, 0.06)) return withQueries(r);
  const n = 1 + Math.floor(r() * 3);
  const outs = Array.from({ length: n }, () => textExpr(r, cols));
  if (chance(r, 0.5)) outs.push('p.pat_id');
  if (chance(r, 0.15)) outs.push(`row_number() OVER (PARTITION BY p.diagnosis ORDER BY ${pick(r, cols)}, p.pat_id${join ? ', v.visit_id' : ''})`);
  const distinct = chance(r, 0.15) ? 'DISTINCT ' : '';
  const list = outs.join(', ');
  if (chance(r, 0.5)) {
    const positions = outs.map((_, i) => `${i + 1}${chance(r, 0.3) ? ' DESC' : ''}${chance(r, 0.2) ? ' NULLS FIRST' : ''}`).join(', ');
    const limit = chance(r, 0.5) ? ` LIMIT ${1 + Math.floor(r() * 10)}${chance(r, 0.3) ? ` OFFSET ${Math.floor(r() * 5)}` : ''}` : '';
    return { sql: `SELECT ${distinct}${list} FROM ${from}${w} ORDER BY ${positions}${limit}`, params: [], ordered: true };
  }
  return { sql: `SELECT ${distinct}${list} FROM ${from}${w}`, params: [], ordered: false };
}

const PAT_ENC = ['pat_name', 'pat_ssn', 'diagnosis'];
const VISIT_BARE = ['reason', 'notes'];

/**
 * One random write that computes (issue 10), with RETURNING: `UPDATE patient … [FROM visit]`,
 * `DELETE FROM visit … [USING patient]`, `INSERT INTO visit … SELECT … FROM patient [ON CONFLICT]`.
 * The test runs it in a transaction it rolls back (the tables stay as they were); RETURNING has no
 * order. A visit joins its patient once when `visit_id < 40` (pat_id = visit_id % 40).
 */
export function generateWrite(seed: number): Generated {
  const r = rng(seed);
  const kind = r();
  if (kind < 0.4) {
    const join = chance(r, 0.4);
    const from = join ? ' FROM visit v' : '';
    const cols = join ? [...PAT_TEXT, ...VISIT_TEXT] : PAT_TEXT;
    const w = where(r, cols, false);
    // where() may give `(a) OR (b AND c)`: the join condition must hold for every row.
    const joined = join ? `${w ? ` WHERE (${w.slice(' WHERE '.length)}) AND` : ' WHERE'} v.pat_id = p.pat_id AND v.visit_id < 40` : w;
    const ret = chance(r, 0.7) ? ` RETURNING p.pat_id, ${textExpr(r, PAT_TEXT)}` : '';
    return { sql: `UPDATE patient p SET ${pick(r, PAT_ENC)} = ${textExpr(r, cols)}${from}${joined}${ret}`, params: [], ordered: false };
  }
  if (kind < 0.7) {
    const join = chance(r, 0.4);
    // Without USING, no condition on p (the generator's pushable forms name it).
    const w = join ? where(r, [...PAT_TEXT, ...VISIT_TEXT], true) : ` WHERE v.visit_id ${pick(r, ['<', '>'])} ${Math.floor(r() * 80)}`;
    const using = join ? ' USING patient p' : '';
    const all = w ? ` WHERE (${w.slice(' WHERE '.length)})` : ' WHERE true';
    const cond = join ? `${all} AND p.pat_id = v.pat_id AND ${residual(r, VISIT_TEXT)}` : `${all} AND ${residual(r, VISIT_TEXT)}`;
    const ret = chance(r, 0.7) ? ` RETURNING v.visit_id, ${textExpr(r, VISIT_TEXT)}` : '';
    return { sql: `DELETE FROM visit v${using}${cond}${ret}`, params: [], ordered: false };
  }
  const offset = pick(r, [0, 20, 1000]);
  const conflict = pick(r, ['', ' ON CONFLICT (visit_id) DO NOTHING', ' ON CONFLICT (visit_id) DO UPDATE SET notes = EXCLUDED.notes', ' ON CONFLICT DO NOTHING']);
  const ret = chance(r, 0.7) ? ` RETURNING visit_id, ${textExpr(r, VISIT_BARE)}` : '';
  return {
    sql: `INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT p.pat_id + ${offset}, p.pat_id, ${textExpr(r, PAT_TEXT)}, ${textExpr(r, PAT_TEXT)} FROM patient p${where(r, PAT_TEXT, false)}${conflict}${ret}`,
    params: [], ordered: false,
  };
}
