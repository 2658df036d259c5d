// Class 14 — side effects a read-only (`reader`) or no-grant (`nobody`) user could cause with
// statements that read like reads: sequence functions, NOTIFY, large objects, statistics (ANALYZE),
// SELECT INTO / temporary tables, and session settings that would switch the backend's read-only
// second wall off. Each must be refused by the proxy (nothing forwarded), or leave the backend as it
// was (the harness's before/after fingerprint, plus a check of what the fingerprint does not hold:
// a sequence's position, pg_class.reltuples).
import { adversarialSuite, REFUSE_ANY, readsBack } from './harness.ts';
import type { UserName } from './harness.ts';

const { attack } = adversarialSuite();
const READ_ONLY: UserName[] = ['reader', 'nobody'];

for (const user of READ_ONLY) {
  attack(`${user}: nextval / setval of a sequence`, async (t) => {
    await t.step({ user: 'writer', sql: 'CREATE SEQUENCE s14', expect: 'ok', stopIfRefused: true });
    await t.step({ user, sql: "SELECT nextval('s14')", expect: REFUSE_ANY });
    await t.step({ user, sql: "SELECT setval('s14', 1000)", expect: REFUSE_ANY });
    await t.step({ user, sql: "SELECT nextval('public.s14'::regclass)", expect: REFUSE_ANY });
    await t.step({ user: 'writer', sql: 'SELECT last_value::int AS v, is_called FROM s14', expect: 'ok',
      check: readsBack(t, 'SELECT last_value::int AS v, is_called FROM s14', [{ v: 1, is_called: false }]) });
  });

  // PostgreSQL allows NOTIFY in a read-only transaction: a message to other sessions, no stored
  // state. It may pass; the fingerprint shows nothing changed.
  attack(`${user}: NOTIFY and pg_notify change nothing stored`, async (t) => {
    await t.step({ user, sql: "NOTIFY ch14, 'x'", expect: 'safe' });
    await t.step({ user, sql: "SELECT pg_notify('ch14', 'x')", expect: 'safe' });
  });

  attack(`${user}: large objects created from a read`, async (t) => {
    await t.step({ user, sql: 'SELECT lo_create(0)', expect: REFUSE_ANY });
    await t.step({ user, sql: "SELECT lo_from_bytea(0, '\\x41'::bytea)", expect: REFUSE_ANY });
  });

  attack(`${user}: ANALYZE updates statistics`, async (t) => {
    await t.step({ user, sql: 'ANALYZE scratch', expect: REFUSE_ANY });
    await t.step({ user, sql: 'ANALYZE', expect: REFUSE_ANY });
    await t.step({ user: 'writer', sql: "SELECT reltuples::int AS n FROM pg_class WHERE relname = 'scratch'", expect: 'ok',
      check: readsBack(t, "SELECT reltuples::int AS n FROM pg_class WHERE relname = 'scratch'", [{ n: -1 }]) });
  });

  attack(`${user}: SELECT INTO and CREATE TEMP TABLE AS`, async (t) => {
    await t.step({ user, sql: 'SELECT * INTO t14 FROM scratch', expect: REFUSE_ANY });
    await t.step({ user, sql: 'CREATE TEMP TABLE t14 AS SELECT 1 AS x', expect: REFUSE_ANY });
    await t.step({ user, sql: 'SELECT id INTO TEMP t15 FROM patient', expect: REFUSE_ANY });
  });

  // The walls are the proxy's grant check and the read-only backend role's privileges, not the
  // transaction's read-only flag: a session may set it as it likes, and still cannot write after.
  attack(`${user}: read-write transaction settings do not open a way to write`, async (t) => {
    await t.step({ user, sql: 'SET default_transaction_read_only = off', expect: 'safe' });
    await t.step({ user, sql: "SELECT set_config('default_transaction_read_only', 'off', false)", expect: 'safe' });
    await t.step({ user, sql: 'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', expect: 'safe' });
    await t.step({ user, sql: 'BEGIN READ WRITE', expect: 'safe' });
    await t.step({ user, sql: "UPDATE scratch SET t = 'x'", expect: REFUSE_ANY });
    await t.step({ user, sql: "SELECT nextval('s14')", expect: REFUSE_ANY });
    await t.step({ user, sql: 'ROLLBACK', expect: 'safe' });
  });
}
