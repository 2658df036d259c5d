// Class 12 — SQL-level PREPARE / EXECUTE / DEALLOCATE (issue 11). PREPARE over a protected table is
// rewritten like a Parse of its statement; EXECUTE's constant arguments are protected by the roles
// of the statement's parameters (encrypted, blind-indexed, anonymized) before the text leaves the
// proxy, so the backend — and its log_statement=all log, which shows EXECUTE's arguments — only
// ever sees ciphertext. Protocol-level and SQL-level prepared statements share one namespace: an
// EXECUTE of a name the session's SQL PREPARE did not make (a protocol-level statement the proxy
// rewrote, a PREPARE the backend refused as a duplicate, a name never prepared) must never hand
// the backend a plaintext where it expects ciphertext. Attacks: those collisions, EXECUTE wrapped in
// EXPLAIN / CREATE TABLE AS, non-constant arguments, multi-statement texts, the extended protocol,
// DEALLOCATE that fails in an aborted block, and a read-only user.
import { adversarialSuite, readsBack, REFUSE_ANY, REFUSE_GRANT, REFUSE_UNSUPPORTED } from './harness.ts';
import { wire } from './raw.ts';

const { attack } = adversarialSuite();
const REFUSE_UNKNOWN_NAME = { refuse: ['26000'] };

attack('PREPARE over patient, EXECUTE with canaries: stored encrypted, read back, found by the searchable column', async (t) => {
  const name = t.canary();
  const ssn = t.canary();
  const zip = '97531';
  await t.step({ user: 'writer', sql: 'PREPARE ins (int, text, text, text) AS INSERT INTO patient (id, name, ssn, zip) VALUES ($1, $2, $3, $4)', expect: 'ok' });
  await t.step({ user: 'writer', sql: `EXECUTE ins(1300, '${name}', '${ssn}', '${zip}')`, expect: 'ok',
    check: readsBack(t, 'SELECT name, ssn, zip FROM patient WHERE id = 1300', [{ name, ssn, zip: '975**' }]) });
  await t.step({ user: 'writer', sql: 'PREPARE sel AS SELECT id, name FROM patient WHERE ssn = $1', expect: 'ok' });
  await t.step({ user: 'writer', sql: `EXECUTE sel('${ssn}')`, expect: 'ok',
    check: (o) => (JSON.stringify(o.rows) === JSON.stringify([{ id: 1300, name }]) ? null : `EXECUTE sel returned ${JSON.stringify(o.rows)}`) });
  const other = t.canary();
  await t.step({ user: 'writer', sql: `EXECUTE ins(1301, '${other}'::text, NULL::text, NULL)`, expect: 'ok',
    check: readsBack(t, 'SELECT name, ssn, zip FROM patient WHERE id = 1301', [{ name: other, ssn: null, zip: null }]) });
});

attack('PREPARE p AS …; EXECUTE p(<canary>) in one multi-statement Query', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: `PREPARE m (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2); EXECUTE m(1330, '${c}'); DEALLOCATE m`, expect: 'ok',
    check: readsBack(t, 'SELECT name FROM patient WHERE id = 1330', [{ name: c }]) });
  await t.step({ user: 'writer', sql: `EXECUTE m(1331, '${t.canary()}')`, expect: REFUSE_UNKNOWN_NAME });
  // A PREPARE skipped after an earlier statement failed is not believed: its EXECUTE is refused.
  await t.step({ user: 'writer', sql: 'SELECT 1/0; PREPARE m2 (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)', expect: 'safe' });
  await t.step({ user: 'writer', sql: `EXECUTE m2(1332, '${t.canary()}')`, expect: REFUSE_UNKNOWN_NAME });
});

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
  // A SQL PREPARE of the same name fails at the backend (42P05): p stays the protocol-level statement.
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'PREPARE p (int, text) AS INSERT INTO scratch (id, t) VALUES ($1, $2)', expect: 'safe' });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `EXECUTE p(1305, '${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('SQL PREPARE of a plain statement, then Close + protocol Parse of the same name over patient: EXECUTE <canary> refused', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'PREPARE q (int, text) AS INSERT INTO scratch (id, t) VALUES ($1, $2)', expect: 'ok' });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Close S "q" + Parse "q" INSERT INTO patient (id, name) VALUES ($1, $2) + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(Buffer.from([0x43, 0, 0, 0, 7, 0x53, 0x71, 0]), wire.parse('q', 'INSERT INTO patient (id, name) VALUES ($1, $2)'), wire.sync());
      return raw.collect();
    } });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `EXECUTE q(1310, '${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('DEALLOCATE that fails in an aborted block keeps the statement: a later PREPARE of a plain one fails, EXECUTE stays protected', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'PREPARE d (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'SELECT 1/0', expect: 'safe' });
  await t.step({ user: 'writer', sql: 'DEALLOCATE d', expect: 'safe' });
  await t.step({ user: 'writer', sql: 'ROLLBACK', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'PREPARE d (int, text) AS INSERT INTO scratch (id, t) VALUES ($1, $2)', expect: 'safe' });
  await t.step({ user: 'writer', sql: `EXECUTE d(1320, '${c}')`, expect: 'ok',
    check: readsBack(t, 'SELECT name FROM patient WHERE id = 1320', [{ name: c }]) });
});

attack('EXECUTE through the extended protocol: a protocol-level name is refused; a SQL PREPARE\'s constants are protected in the Parse', async (t) => {
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
  const d = t.canary();
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'PREPARE x (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)', expect: 'ok' });
  // PostgreSQL takes no parameters in EXECUTE's arguments (42P02): refused before the Bind values leave.
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse EXECUTE x($1, $2) + Bind <canary> + Execute + Sync', expect: { refuse: ['42P02'] },
    action: async (raw) => {
      raw.send(wire.parse('', 'EXECUTE x($1, $2)', [23, 25]), wire.bind('', '', ['1311', t.canary()]), wire.execute(), wire.sync());
      return raw.collect();
    } });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse EXECUTE x(1311, <canary>) + Bind + Execute + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(wire.parse('', `EXECUTE x(1311, '${d}')`), wire.bind('', '', []), wire.execute(), wire.sync());
      return raw.collect();
    },
    check: readsBack(t, 'SELECT name FROM patient WHERE id = 1311', [{ name: d }]) });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse PREPARE y … + Bind + Execute + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(wire.parse('', 'PREPARE y (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)'), wire.bind('', '', []), wire.execute(), wire.sync());
      return raw.collect();
    } });
  const e = t.canary();
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse "ey" EXECUTE y(1312, <canary>::text) + Bind + Execute + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(wire.parse('ey', `EXECUTE y(1312, '${e}'::text)`), wire.bind('', 'ey', []), wire.execute(), wire.sync());
      return raw.collect();
    },
    check: readsBack(t, 'SELECT name FROM patient WHERE id = 1312', [{ name: e }]) });
});

attack('arguments that are not constants: refused by name for protected parameters, checked for plain ones', async (t) => {
  await t.step({ user: 'writer', sql: 'PREPARE ins (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)', expect: 'ok' });
  await t.step({ user: 'writer', sql: `EXECUTE ins(1340, upper('${t.canary()}'))`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: `EXECUTE ins(1341, (SELECT '${t.canary()}'::text))`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: `EXECUTE ins(1342, '${t.canary()}'::varchar(3))`, expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: 'PREPARE scr (int, text) AS INSERT INTO scratch (id, t) VALUES ($1, $2)', expect: 'ok' });
  // Ciphertext of a protected column must not be copied into a plain one as if it were data.
  await t.step({ user: 'writer', sql: 'EXECUTE scr(5, (SELECT name FROM patient WHERE id = 1))', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: "EXECUTE scr(6, 'x' || 'y')", expect: 'ok', check: readsBack(t, 'SELECT t FROM scratch WHERE id = 6', [{ t: 'xy' }]) });
});

attack('unknown names, DEALLOCATE, DISCARD ALL, EXPLAIN EXECUTE, a statement computed in two stages', async (t) => {
  await t.step({ user: 'writer', sql: `EXECUTE nosuch(1, '${t.canary()}')`, expect: REFUSE_UNKNOWN_NAME });
  await t.step({ user: 'writer', sql: 'PREPARE sel AS SELECT name FROM patient WHERE id = $1', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'EXPLAIN EXECUTE sel(1)', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: 'DEALLOCATE sel', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'EXECUTE sel(1)', expect: REFUSE_UNKNOWN_NAME });
  await t.step({ user: 'writer', sql: 'PREPARE sel AS SELECT name FROM patient WHERE id = $1', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DISCARD ALL', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'EXECUTE sel(1)', expect: REFUSE_UNKNOWN_NAME });
  await t.step({ user: 'writer', sql: 'PREPARE sel AS SELECT name FROM patient WHERE id = $1', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DEALLOCATE ALL', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'EXECUTE sel(1)', expect: REFUSE_UNKNOWN_NAME });
  await t.step({ user: 'writer', sql: 'PREPARE srt AS SELECT id FROM patient ORDER BY name', expect: REFUSE_UNSUPPORTED });
});

attack('reader: PREPARE of a write is refused, a read shows the masked view; nobody: refused', async (t) => {
  const secret = t.secret();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, phone) VALUES (1350, '${secret}', '0699887766')`, expect: 'ok' });
  await t.step({ user: 'reader', sql: 'PREPARE r1 (int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)', expect: REFUSE_GRANT });
  await t.step({ user: 'reader', sql: `EXECUTE r1(1351, '${t.canary()}')`, expect: REFUSE_UNKNOWN_NAME });
  await t.step({ user: 'reader', sql: 'PREPARE r2 (int, text) AS UPDATE patient SET name = $2 WHERE id = $1', expect: REFUSE_GRANT });
  await t.step({ user: 'reader', sql: 'PREPARE r3 AS SELECT name, phone FROM patient WHERE id = $1', expect: 'ok' });
  await t.step({ user: 'reader', sql: 'EXECUTE r3(1350)', expect: 'ok',
    check: (o) => (JSON.stringify(o.rows).includes('66') && !JSON.stringify(o.rows).includes('0699') ? null : `reader saw ${JSON.stringify(o.rows)}`) });
  await t.step({ user: 'nobody', sql: 'PREPARE n1 AS SELECT name FROM patient', expect: REFUSE_ANY });
  await t.step({ user: 'nobody', sql: 'EXECUTE n1', expect: REFUSE_UNKNOWN_NAME });
});
