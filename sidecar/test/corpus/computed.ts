// The corpus of ordinary application statements that compute on encrypted columns (issue 10): the
// shapes ORMs and hand-written reports send (Django's iexact/icontains/istartswith, admin lists
// sorted by a name, pagination, reports with GROUP BY and windows, labels built with ||, CASE,
// COALESCE, set operations, WITH queries, writes that compute), each over every encrypted column
// of the eHealth tables (patient: randomized name, searchable randomized ssn, deterministic
// diagnosis; visit: deterministic reason, randomized notes). Run in order through the proxy and on
// an oracle with plain tables (two-stage-corpus.test.ts): writes change what later reads see.

export interface ComputedEntry {
  sql: string;
  params?: unknown[];
  /** ORDER BY fixes the order of every row: compare in order. */
  ordered?: boolean;
}

const PATIENT = ['pat_name', 'pat_ssn', 'diagnosis'] as const;
const VISIT = ['reason', 'notes'] as const;

/** Per encrypted column `c` of table `t` (key `k`): the read shapes applications send. */
function reads(t: string, k: string, c: string): ComputedEntry[] {
  const q = (sql: string, params?: unknown[], ordered = false): ComputedEntry => ({ sql, ...(params ? { params } : {}), ...(ordered ? { ordered } : {}) });
  return [
    // Django lookups (UPPER(col::text) for the case-insensitive ones).
    q(`SELECT ${k} FROM ${t} WHERE UPPER(${c}::text) = UPPER($1)`, ['ann lee-canary']),
    q(`SELECT ${k} FROM ${t} WHERE UPPER(${c}::text) LIKE UPPER($1)`, ['%LEE%']),
    q(`SELECT ${k} FROM ${t} WHERE UPPER(${c}::text) LIKE UPPER($1)`, ['a%']),
    q(`SELECT ${k} FROM ${t} WHERE ${c}::text LIKE $1`, ['%-1%']),
    q(`SELECT ${k} FROM ${t} WHERE ${c} LIKE 'f%'`),
    q(`SELECT ${k} FROM ${t} WHERE ${c} ILIKE '%CANARY%'`),
    q(`SELECT ${k} FROM ${t} WHERE ${c} NOT ILIKE $1`, ['%e%']),
    q(`SELECT ${k} FROM ${t} WHERE ${c} ~* $1`, ['^[a-f]']),
    q(`SELECT ${k} FROM ${t} WHERE ${c} ~ '[0-9]{4}$'`),
    q(`SELECT ${k} FROM ${t} WHERE ${c} SIMILAR TO '%(flu|lee)%'`),
    q(`SELECT ${k} FROM ${t} WHERE position('e' in ${c}) > 3`),
    q(`SELECT ${k} FROM ${t} WHERE strpos(${c}, $1) > 0`, ['a']),
    q(`SELECT ${k} FROM ${t} WHERE ${c} IS DISTINCT FROM 'flu'`),
    // Ranges (admin filters, alphabetical pagination).
    q(`SELECT ${k} FROM ${t} WHERE ${c} > $1 ORDER BY ${c}, ${k}`, ['M'], true),
    q(`SELECT ${k} FROM ${t} WHERE ${c} BETWEEN $1 AND $2`, ['a', 'n']),
    q(`SELECT ${k} FROM ${t} WHERE ${c} < 'c' OR ${c} >= 'w'`),
    q(`SELECT ${k}, ${c} FROM ${t} WHERE ${k} < $1 AND ${c} <= $2 ORDER BY ${k}`, [30, 'flu'], true),
    // Sorted lists and pagination.
    q(`SELECT ${k}, ${c} FROM ${t} ORDER BY ${c}, ${k}`, undefined, true),
    q(`SELECT ${k}, ${c} FROM ${t} ORDER BY ${c} DESC NULLS LAST, ${k} LIMIT 10`, undefined, true),
    q(`SELECT ${k}, ${c} FROM ${t} ORDER BY ${c} NULLS FIRST, ${k} LIMIT $1 OFFSET $2`, [5, 5], true),
    q(`SELECT ${k} FROM ${t} ORDER BY lower(${c}), ${k} LIMIT 7`, undefined, true),
    q(`SELECT ${k} FROM ${t} ORDER BY length(${c}) DESC NULLS LAST, ${k} FETCH FIRST 3 ROWS ONLY`, undefined, true),
    // Projections.
    q(`SELECT upper(${c}) AS u, lower(${c}) AS l, initcap(${c}) AS i FROM ${t} WHERE ${k} = $1`, [7]),
    q(`SELECT length(${c}), octet_length(${c}), char_length(${c}) FROM ${t}`),
    q(`SELECT substring(${c} from 2 for 4), substr(${c}, 3), left(${c}, 2), right(${c}, 3) FROM ${t}`),
    q(`SELECT coalesce(${c}, 'n/a') AS v FROM ${t}`),
    q(`SELECT nullif(${c}, 'flu') AS v FROM ${t}`),
    q(`SELECT ${c} || ' #' || ${k} AS label FROM ${t} ORDER BY ${k} LIMIT 5`, undefined, true),
    q(`SELECT concat(${k}, ':', ${c}) AS label, concat_ws('/', ${c}, ${k}) AS path FROM ${t}`),
    q(`SELECT format('%s (%s)', ${c}, ${k}) AS label FROM ${t} WHERE ${k} < 10`),
    q(`SELECT replace(${c}, '-', ' '), translate(${c}, 'ae', 'AE'), reverse(${c}) FROM ${t}`),
    q(`SELECT trim(${c}), btrim(${c}, 'a'), lpad(${c}, 30, '.'), rpad(${c}, 3) FROM ${t}`),
    q(`SELECT split_part(${c}, ' ', 1) AS first_word, split_part(${c}, '-', 2) AS tail FROM ${t}`),
    q(`SELECT md5(${c}) AS h FROM ${t} WHERE ${k} = $1`, [3]),
    q(`SELECT ${k}, CASE WHEN ${c} IS NULL THEN 'missing' WHEN length(${c}) > 12 THEN 'long' ELSE 'short' END AS size FROM ${t}`),
    q(`SELECT ${k}, ${c} = 'flu' AS is_flu, ${c} IS NULL AS unknown FROM ${t}`),
    q(`SELECT regexp_replace(${c}, '[aeiou]', '*', 'g') FROM ${t}`),
    q(`SELECT ${k}, starts_with(${c}, 'a') FROM ${t}`),
    // Reports.
    q(`SELECT ${c}, count(*) AS n FROM ${t} GROUP BY ${c} ORDER BY n DESC, ${c} NULLS FIRST`, undefined, true),
    q(`SELECT max(${c}) AS hi, min(${c}) AS lo, count(${c}) AS n FROM ${t}`),
    q(`SELECT count(DISTINCT ${c}) FROM ${t}`),
    q(`SELECT left(${c}, 1) AS initial, count(*) FROM ${t} GROUP BY 1 HAVING count(*) > 1 ORDER BY 1`, undefined, true),
    q(`SELECT string_agg(${c}, ', ' ORDER BY ${c}) FROM ${t} WHERE ${k} < $1`, [12]),
    q(`SELECT array_agg(${c} ORDER BY ${k}) FROM ${t} WHERE ${k} < 6`),
    q(`SELECT length(${c}) AS len, count(*) FROM ${t} GROUP BY len ORDER BY len NULLS FIRST`, undefined, true),
    q(`SELECT DISTINCT lower(${c}) AS v FROM ${t}`),
    q(`SELECT DISTINCT ON (left(${c}, 1)) left(${c}, 1) AS initial, ${k} FROM ${t} ORDER BY left(${c}, 1), ${k}`, undefined, true),
    q(`SELECT ${k}, row_number() OVER (ORDER BY ${c}, ${k}) AS rn FROM ${t}`),
    q(`SELECT ${k}, rank() OVER (PARTITION BY left(${c}, 1) ORDER BY ${k}) FROM ${t}`),
    q(`SELECT ${k}, lag(${c}) OVER (ORDER BY ${k}) AS prev FROM ${t} ORDER BY ${k}`, undefined, true),
    q(`SELECT ${k}, count(*) OVER (PARTITION BY ${c}) AS same FROM ${t}`),
    q(`SELECT count(*) FILTER (WHERE ${c} LIKE '%a%') AS with_a, count(*) AS total FROM ${t}`),
    q(`SELECT bool_or(${c} ILIKE '%canary%'), every(${c} IS NOT NULL) FROM ${t}`),
    // More lookups and projections of the same kinds.
    q(`SELECT ${k} FROM ${t} WHERE lower(${c}) = lower($1) OR ${c} ILIKE $2`, ['FLU', 'bob%']),
    q(`SELECT ${k} FROM ${t} WHERE ${c} LIKE '%' || $1 || '%'`, ['45-10']),
    q(`SELECT ${k} FROM ${t} WHERE length(${c}) BETWEEN 4 AND 12 AND ${k} % 2 = 0`),
    // Over a randomized column, only the engine can compare: the tables are then read whole.
    q(`SELECT ${k} FROM ${t} WHERE ${c} IN (SELECT ${c} FROM ${t} WHERE ${k} < 3 AND ${c} IS NOT NULL) OR upper(${c}) = 'FLU'`),
    q(`SELECT s.v, count(*) FROM (SELECT lower(${c}) AS v FROM ${t}) s GROUP BY s.v ORDER BY 1 NULLS FIRST`, undefined, true),
    q(`SELECT ${k}, ${c} FROM ${t} WHERE ${c} IS NOT NULL ORDER BY ${c} COLLATE "C" DESC, ${k} LIMIT 4`, undefined, true),
    q(`SELECT greatest(${c}, 'm'), least(${c}, 'm') FROM ${t}`),
    q(`SELECT ${k}, ${c} ^@ 'a' AS starts_a FROM ${t}`),
    q(`SELECT ascii(${c}), chr(65 + ${k} % 26) || ${c} FROM ${t}`),
    q(`SELECT to_char(length(${c}), '000') AS padded FROM ${t}`),
    q(`SELECT ${k}, quote_literal(${c}), quote_ident(${c}) FROM ${t} WHERE ${k} < 6`),
    q(`SELECT encode(convert_to(${c}, 'UTF8'), 'hex') FROM ${t} WHERE ${k} = 2`),
    q(`SELECT ${k}, ntile(3) OVER (ORDER BY ${c} NULLS FIRST, ${k}) FROM ${t}`),
  ];
}

/** Statements over both tables. */
const JOINS: ComputedEntry[] = PATIENT.flatMap((pc) => VISIT.flatMap((vc): ComputedEntry[] => [
  { sql: `SELECT p.pat_id, v.visit_id FROM patient p JOIN visit v ON v.pat_id = p.pat_id WHERE upper(p.${pc}) LIKE '%A%' AND v.${vc} ILIKE $1`, params: ['%e%'] },
  { sql: `SELECT p.${pc}, v.${vc} FROM patient p JOIN visit v ON v.pat_id = p.pat_id WHERE p.pat_id = $1 ORDER BY v.visit_id`, params: [3], ordered: true },
  { sql: `SELECT p.${pc} || ': ' || v.${vc} AS line FROM patient p JOIN visit v USING (pat_id) WHERE v.visit_id < 20` },
  { sql: `SELECT p.pat_id, count(v.visit_id), max(v.${vc}) FROM patient p LEFT JOIN visit v ON v.pat_id = p.pat_id GROUP BY p.pat_id ORDER BY p.pat_id`, ordered: true },
  { sql: `SELECT v.${vc}, count(DISTINCT p.${pc}) FROM visit v JOIN patient p ON p.pat_id = v.pat_id GROUP BY v.${vc} ORDER BY 1 NULLS FIRST`, ordered: true },
  { sql: `SELECT p.pat_id FROM patient p WHERE EXISTS (SELECT 1 FROM visit v WHERE v.pat_id = p.pat_id AND v.visit_id > 60) ORDER BY p.${pc} NULLS FIRST, p.pat_id`, ordered: true },
  { sql: `SELECT p.pat_id FROM patient p WHERE p.pat_id IN (SELECT pat_id FROM visit WHERE visit_id % 7 = 0) AND length(p.${pc}) > 5` },
  { sql: `SELECT p.pat_id, (SELECT count(*) FROM visit v WHERE v.pat_id = p.pat_id) AS visits, upper(p.${pc}) FROM patient p WHERE p.pat_id < 8` },
]));

/** Set operations and WITH queries. */
const COMBINED: ComputedEntry[] = [
  ...PATIENT.flatMap((pc) => VISIT.flatMap((vc): ComputedEntry[] => [
    { sql: `SELECT ${pc} AS v FROM patient UNION SELECT ${vc} FROM visit ORDER BY 1 NULLS FIRST`, ordered: true },
    { sql: `SELECT upper(${pc}) FROM patient UNION ALL SELECT upper(${vc}) FROM visit WHERE visit_id < 10 UNION SELECT 'ZZ'` },
    { sql: `SELECT ${pc} FROM patient INTERSECT SELECT ${vc} FROM visit` },
    { sql: `SELECT ${pc} FROM patient EXCEPT (SELECT ${vc} FROM visit UNION SELECT ${pc} FROM patient WHERE pat_id < 5)` },
    { sql: `WITH a AS (SELECT pat_id, lower(${pc}) AS x FROM patient), b AS (SELECT pat_id, lower(${vc}) AS y FROM visit) SELECT a.x, count(b.y) FROM a LEFT JOIN b ON b.pat_id = a.pat_id GROUP BY a.x ORDER BY 1 NULLS FIRST`, ordered: true },
  ])),
  ...PATIENT.map((pc): ComputedEntry => ({ sql: `WITH ranked AS (SELECT pat_id, ${pc}, row_number() OVER (ORDER BY ${pc}, pat_id) AS rn FROM patient) SELECT pat_id FROM ranked WHERE rn <= 5 ORDER BY rn`, ordered: true })),
  ...PATIENT.map((pc): ComputedEntry => ({ sql: `WITH f AS (SELECT pat_id, ${pc} FROM patient WHERE diagnosis = 'flu') SELECT upper(${pc}) FROM f ORDER BY 1 NULLS FIRST`, ordered: true })),
];

/** Writes that compute (they change what later statements read). */
const WRITES: ComputedEntry[] = [
  { sql: 'UPDATE patient SET pat_name = initcap(pat_name) WHERE pat_id = $1', params: [3] },
  { sql: "UPDATE patient SET pat_name = pat_name || ' jr' WHERE pat_name LIKE 'b%'" },
  { sql: 'UPDATE patient SET pat_name = upper(pat_name), diagnosis = lower(diagnosis) WHERE pat_id BETWEEN 10 AND 14' },
  { sql: 'UPDATE patient SET pat_ssn = replace(pat_ssn, $1, $2) WHERE pat_ssn LIKE $3', params: ['123-45', '999-45', '%-102%'] },
  { sql: 'UPDATE patient SET diagnosis = coalesce(diagnosis, $1) WHERE diagnosis IS NULL', params: ['unknown'] },
  { sql: "UPDATE patient SET diagnosis = CASE WHEN length(pat_name) > 15 THEN 'long ' || diagnosis ELSE diagnosis END WHERE pat_id < 20" },
  { sql: 'UPDATE patient SET pat_name = pat_ssn WHERE pat_id = 21' },
  { sql: "UPDATE visit SET notes = upper(reason) || ': ' || notes WHERE visit_id < $1", params: [6] },
  { sql: "UPDATE visit SET reason = 'follow-up' WHERE notes ILIKE '%note 1%'" },
  { sql: "UPDATE visit v SET notes = left(v.notes, 6) WHERE v.reason = 'cough' AND v.notes ~ '[0-9]$'" },
  { sql: "INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 200 + pat_id, pat_id, 'review', 'of ' || pat_name FROM patient WHERE pat_name ILIKE $1", params: ['%a%'] },
  { sql: 'INSERT INTO visit (visit_id, pat_id, reason, notes) SELECT 300 + visit_id, pat_id, upper(reason), notes FROM visit WHERE visit_id < 10 ORDER BY visit_id' },
  { sql: "UPDATE visit SET visit_id = visit_id + 1000 WHERE upper(notes) LIKE '%COPIED%' OR reason ILIKE 'REV%'" },
  { sql: 'DELETE FROM visit WHERE visit_id >= 300 AND length(notes) > $1', params: [5] },
  { sql: 'DELETE FROM visit WHERE visit_id >= 300' },
];

/** The whole corpus, in order: reads, writes, then the reads again over the changed rows. */
export function computedCorpus(): ComputedEntry[] {
  const all = [...PATIENT.flatMap((c) => reads('patient', 'pat_id', c)), ...VISIT.flatMap((c) => reads('visit', 'visit_id', c)), ...JOINS, ...COMBINED];
  return [...all, ...WRITES, ...PATIENT.flatMap((c) => reads('patient', 'pat_id', c)).filter((_, i) => i % 4 === 0)];
}
