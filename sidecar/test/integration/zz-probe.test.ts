import pg from 'pg';
import { afterAll, beforeAll, it } from 'vitest';
import { startSplit } from './split-env.ts';
import type { SplitEnv } from './split-env.ts';
import { USERS } from '../corpus/setup.ts';

let env: SplitEnv;
let doc: pg.Client;
beforeAll(async () => {
  env = await startSplit({ users: [{ name: 'clerk', password: 'clerk-pw', grants: [{ grant: 'g9', datasets: ['patients', 'visits'], access: 'readWrite', view: 'masked' }] }] });
  doc = await env.client();
  await doc.query('CREATE TABLE patient (pat_id serial PRIMARY KEY, pat_name text NOT NULL, pat_ssn text, diagnosis text, ward text, age int)');
  await doc.query('CREATE TABLE visit (visit_id serial PRIMARY KEY, reason text, note text)');
  await doc.query("INSERT INTO patient (pat_name, pat_ssn, diagnosis, ward, age) VALUES ('Ann', 'SSNCANARY0', 'DXCANARY0', 'w1', 40)");
  await doc.query("INSERT INTO visit (reason, note) VALUES ('RSNCANARY0', 'n')");
}, 120_000);
afterAll(async () => { await env?.close(); });

const probes: string[] = [];
const unused = [
  "INSERT INTO patient (pat_name, pat_ssn) VALUES ('a', 'SSNCANARY1') RETURNING *",
  "WITH x AS (INSERT INTO patient(pat_name,pat_ssn) VALUES('b','SSNCANARY2') RETURNING pat_id) SELECT * FROM x",
  "INSERT INTO visit (note) SELECT pat_ssn FROM patient",
  "INSERT INTO visit (reason) SELECT pat_ssn FROM patient",
  "UPDATE patient SET ward = pat_ssn",
  "UPDATE patient SET ward = diagnosis",
  "UPDATE patient SET age = length(pat_ssn)",
  "UPDATE patient SET ward = upper(pat_name)",
  "INSERT INTO patient (pat_name, ward) VALUES ('x', (SELECT pat_ssn FROM patient LIMIT 1))",
  "INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1000, 'x', 'SSNCANARY6') ON CONFLICT (pat_id) DO UPDATE SET ward = excluded.pat_ssn",
  "INSERT INTO patient (pat_id, pat_name, pat_ssn) VALUES (1000, 'x', 'SSNCANARY7') ON CONFLICT (pat_id) DO UPDATE SET ward = excluded.pat_ssn",
  "SELECT set_config('x.y', pat_ssn, false) FROM patient",
  "CREATE TABLE t2 AS SELECT * FROM patient",
  "CREATE TABLE t3 AS SELECT pat_ssn AS s FROM patient",
  "SELECT * INTO t4 FROM patient",
  "PREPARE p AS INSERT INTO patient(pat_name, pat_ssn) VALUES ('p', $1)",
  "EXECUTE p('SSNCANARY8')",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', 'SSNCAN' || 'ARY9')",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', E'SSNCAN\\x41RY10')",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', $$SSNCANARY11$$)",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', U&'SSNCAN\\0041RY12')",
  "SELECT pat_id FROM patient WHERE pat_ssn = 'SSNCANARY13'",
  "SELECT pat_id FROM patient WHERE pat_ssn LIKE 'SSNCANARY14%'",
  "SELECT pat_id FROM patient WHERE diagnosis > 'DXCANARY15'",
  "SELECT pat_ssn::int FROM patient",
  "UPDATE patient SET pat_ssn = 'SSNCANARY16' WHERE ward = 'w1'",
  "UPDATE patient SET ward = 'w2' WHERE pat_ssn = 'SSNCANARY16'",
  "DELETE FROM patient WHERE pat_ssn = 'SSNCANARY0' RETURNING pat_ssn",
  "INSERT INTO patient(pat_name, pat_ssn) SELECT 'q', 'SSNCANARY17' FROM generate_series(1,2)",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', 'SSNCANARY18'::text COLLATE \"C\")",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', format('%s', 'SSNCANARY19'))",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', (SELECT 'SSNCANARY20'))",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', ARRAY['SSNCANARY21'][1])",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', ('SSNCANARY22', 1)::text)",
  "INSERT INTO patient(pat_name, pat_ssn) VALUES ('x', lower('SSNCANARY23'))",
  "UPDATE patient SET pat_ssn = pat_ssn || 'SSNCANARY24'",
  "UPDATE patient SET diagnosis = ward || 'DXCANARY25'",
  "COPY patient (pat_name, pat_ssn) FROM PROGRAM 'echo x'",
  "SELECT pat_id FROM patient p WHERE EXISTS (SELECT 1 FROM visit v WHERE v.note = p.pat_ssn)",
  "INSERT INTO visit (note) VALUES ((SELECT pat_ssn FROM patient WHERE pat_id = 1))",
  "UPDATE visit SET note = (SELECT pat_ssn FROM patient WHERE pat_id = 1)",
  "UPDATE visit v SET note = p.pat_ssn FROM patient p",
  "INSERT INTO visit (note) SELECT string_agg(pat_ssn, ',') FROM patient",
  "SELECT pat_ssn FROM patient UNION SELECT 'SSNCANARY26'",
  "SELECT pat_id FROM patient WHERE pat_ssn IN ('SSNCANARY27', 'SSNCANARY28')",
  "SELECT pat_id FROM patient WHERE pat_ssn = ANY(ARRAY['SSNCANARY29'])",
  "SELECT pat_id FROM patient WHERE (pat_ssn, ward) = ('SSNCANARY30', 'w1')",
  "SELECT pat_id FROM patient WHERE pat_ssn IS NOT DISTINCT FROM 'SSNCANARY31'",
  "SELECT pat_id FROM patient WHERE coalesce(pat_ssn, 'SSNCANARY32') = 'x'",
  "SELECT pat_id FROM patient WHERE ward = 'w1' AND 'SSNCANARY33' = pat_ssn",
  "SELECT pat_id FROM patient ORDER BY pat_ssn = 'SSNCANARY34'",
  "SELECT count(*) FILTER (WHERE pat_ssn = 'SSNCANARY35') FROM patient",
];

it('probes', async () => {
  const out: string[] = [];
  const runAs = async (who: string, c: pg.Client, list: string[]) => { for (const p of list) { try { const r = await c.query(p); out.push(`${who} OK ${p} -> ${JSON.stringify(r.rows ?? r).slice(0, 200)}`); } catch (e) { out.push(`${who} ERR ${p} -> ${(e as { code?: string }).code} ${(e as Error).message.slice(0, 160)}`); } } };
  const an = await env.client(USERS.analyst);
  await runAs('analyst', an, ["SELECT 1", "SELECT visit_id FROM visit WHERE reason LIKE 'RSN%'", "SELECT visit_id, upper(reason) FROM visit WHERE reason > 'R'", "SELECT visit_id, reason FROM visit WHERE upper(reason) LIKE '%ARY0'", "SELECT visit_id, upper(reason) FROM visit WHERE reason = 'RSNCANARY0'", "SELECT visit_id, reason FROM visit ORDER BY reason",
    "SELECT pat_id FROM patient WHERE pat_ssn LIKE 'SSN%'", "SELECT pat_id FROM patient WHERE pat_ssn = 'SSNCANARY0'", "SELECT pat_id FROM patient WHERE diagnosis = 'DXCANARY0'",
    "SELECT pat_id, upper(pat_name) FROM patient WHERE pat_name = 'Ann'", "SELECT count(*) FROM patient WHERE pat_name LIKE 'A%'",
  ]);
  const rows = await env.backend('cloud-a').query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'visit' ORDER BY ordinal_position");
  console.log(out.join('\n'));
  console.log('COLS ' + JSON.stringify(rows.rows));
  const leaks: string[] = [];
  for (const n of env.names) { const log = env.serverLog(n); for (const m of log.matchAll(/(SSN|DX|RSN)CAN\w*/g)) leaks.push(`${n} log: ${m[0]}`); }
  console.log('LEAKS\n' + [...new Set(leaks)].join('\n'));
}, 300_000);
