// Class 12 — SQL-level PREPARE / EXECUTE / DEALLOCATE (issue 11). The proxy protects parameters
// at Bind (extended protocol); a SQL-level EXECUTE hands its arguments to a backend prepared
// statement as constants the proxy never sees as parameters. So PREPARE of a statement over a
// protected table is refused, and every EXECUTE is refused while a policy protects data — even of
// a statement over unprotected tables, because protocol-level and SQL-level prepared statements
// share one namespace: `EXECUTE p(<canary>)` of a protocol-level statement `p` the proxy rewrote
// (its parameter is now the bytea of a ciphertext) would store the canary in clear. Attacks: that
// namespace collision, EXECUTE wrapped in EXPLAIN ANALYZE / CREATE TABLE AS, spelled in other cases
// or sent through the extended protocol, and PREPARE hidden in multi-statement texts.
import { adversarialSuite, REFUSE_ANY, REFUSE_UNSUPPORTED } from './harness.ts';
import { wire } from './raw.ts';

const { attack } = adversarialSuite();

attack('protocol-level statement "p" rewritten by the proxy, then SQL EXECUTE p(<canary>): refused', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse "p" INSERT INTO patient (id, name) VALUES ($1, $2) + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(wire.parse('p', 'INSERT INTO patient (id, name) VALUES ($1, $2)'), wire.sync());
      return raw.collect();
    } });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `EXECUTE p(1300, '${c}')`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `execute "p" (1301, '${c}')`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `EXPLAIN ANALYZE EXECUTE p(1302, '${c}')`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `CREATE TABLE adv_exec AS EXECUTE p(1303, '${c}')`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `SELECT 1; EXECUTE p(1304, '${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('EXECUTE through the extended protocol (Parse of "EXECUTE p($1, $2)"), the canary as a Bind value: refused', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse "p" INSERT INTO patient … + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(wire.parse('p', 'INSERT INTO patient (id, name) VALUES ($1, $2)'), wire.sync());
      return raw.collect();
    } });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse EXECUTE p($1, $2) + Bind <canary> + Execute + Sync', expect: REFUSE_UNSUPPORTED,
    action: async (raw) => {
      raw.send(wire.parse('', 'EXECUTE p($1, $2)'), wire.bind('', '', ['1310', c]), wire.execute(), wire.sync());
      return raw.collect();
    } });
});

attack('SQL PREPARE of a statement over a protected table is refused (so no EXECUTE can reach it)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'PREPARE ins (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: 'PREPARE sel AS SELECT name FROM patient WHERE ssn = $1', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: "prepare \"Ins\" AS UPDATE public.patient SET name = $1 WHERE id = 1", expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: 'PREPARE w AS WITH x AS (SELECT $1::text AS v) INSERT INTO patient (id, name) SELECT 1320, v FROM x', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: `SELECT 1; PREPARE ins2 AS INSERT INTO patient (id, name) VALUES (1321, '${c}')`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: `EXECUTE ins(1322, '${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('PREPARE over an unprotected table is prepared; its EXECUTE is refused all the same (shared namespace)', async (t) => {
  await t.step({ user: 'writer', sql: 'PREPARE scr (int, text) AS INSERT INTO scratch (id, t) VALUES ($1, $2)', expect: 'ok' });
  await t.step({ user: 'writer', sql: "EXECUTE scr(5, 'x')", expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: 'DEALLOCATE scr', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DEALLOCATE ALL', expect: 'ok' });
});

attack('reader and nobody: PREPARE over patient and EXECUTE are refused', async (t) => {
  await t.step({ user: 'reader', sql: 'PREPARE r1 AS SELECT name FROM patient', expect: REFUSE_ANY });
  await t.step({ user: 'reader', sql: 'EXECUTE r1', expect: REFUSE_ANY });
  await t.step({ user: 'nobody', sql: 'PREPARE n1 AS SELECT name FROM patient', expect: REFUSE_ANY });
});
