// Class 5 — the protocol: SQL PREPARE/EXECUTE over protected tables; SQL EXECUTE (EXPLAIN EXECUTE,
// CREATE TABLE AS EXECUTE) of a protocol-level prepared statement, whose rewritten form expects
// ciphertext parameters; name collisions between protocol and SQL prepared statements; the
// FunctionCall ('F') message; a Parse holding two statements; Bind/Execute/CopyData that follow a
// refused Parse or COPY in the same pipeline (the proxy must drop them, not forward them).
import { adversarialSuite, hexOf, readsBack, REFUSE_ANY, REFUSE_OR_REWRITE, REFUSE_UNSUPPORTED } from './harness.ts';
import type { Attack } from './harness.ts';
import { wire } from './raw.ts';

const { attack } = adversarialSuite();
const setupOrBlock = { expect: 'safe', stopIfRefused: true } as const;

async function oidOf(t: Attack, signature: string): Promise<number> {
  const r = await t.env.admin!.query<{ oid: number }>('SELECT $1::regprocedure::oid::int AS oid', [signature]);
  return r.rows[0]!.oid;
}

attack('SQL PREPARE … INSERT INTO patient, then EXECUTE with the canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'PREPARE p501(int, text) AS INSERT INTO patient (id, name) VALUES ($1, $2)', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `EXECUTE p501(501, '${c}')`, expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 501', [{ name: c }]) });
});

attack('SQL PREPARE … SELECT … WHERE ssn = $1, then EXECUTE with the canary', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'PREPARE p502(text) AS SELECT id FROM patient WHERE ssn = $1', ...setupOrBlock });
  await t.step({ user: 'writer', sql: `EXECUTE p502('${c}')`, expect: REFUSE_OR_REWRITE });
});

attack('SQL EXECUTE of a protocol-level prepared INSERT (name collision): plaintext where ciphertext is expected', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'extended', name: 'ins503', sql: 'INSERT INTO patient (id, name) VALUES ($1, $2)', params: [503, 'seed value'], expect: 'ok' });
  await t.step({ user: 'writer', sql: `EXECUTE ins503(504, '${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('SQL EXECUTE of a protocol-level prepared blind-index SELECT', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'extended', name: 'sel505', sql: 'SELECT id FROM patient WHERE ssn = $1', params: ['100-00-0001'], expect: 'ok' });
  await t.step({ user: 'writer', sql: `EXECUTE sel505('${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('EXPLAIN ANALYZE EXECUTE of a protocol-level prepared statement', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'extended', name: 'sel506', sql: 'SELECT id FROM patient WHERE diag = $1', params: ['flu'], expect: 'ok' });
  await t.step({ user: 'writer', sql: `EXPLAIN ANALYZE EXECUTE sel506('${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('CREATE TABLE … AS EXECUTE of a protocol-level prepared statement', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'extended', name: 'sel507', sql: 'SELECT id, name FROM patient WHERE diag = $1', params: ['flu'], expect: 'ok' });
  await t.step({ user: 'writer', sql: `CREATE TABLE t507 AS EXECUTE sel507('${c}')`, expect: REFUSE_UNSUPPORTED });
});

attack('protocol-level statement name re-bound by SQL (DEALLOCATE + PREPARE of a patient INSERT), then Bind', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'extended', name: 'q508', sql: 'SELECT $1::text AS v', params: ['x'], expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DEALLOCATE q508', ...setupOrBlock });
  await t.step({ user: 'writer', sql: 'PREPARE q508(text) AS INSERT INTO patient (id, name) VALUES (508, $1)', ...setupOrBlock });
  // node-postgres re-uses its cached statement `q508` (same text): it sends only Bind/Execute.
  await t.step({ user: 'writer', via: 'extended', name: 'q508', sql: 'SELECT $1::text AS v', params: [c], expect: 'safe' });
});

attack('SQL PREPARE of a plain statement under a name, then a protocol Parse of a refused patient INSERT with Bind in the same pipeline', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'PREPARE s509(int, text) AS INSERT INTO scratch (id, t) VALUES ($1, $2)', ...setupOrBlock });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse s509 (refused) + Bind s509 [canary] + Execute + Sync', expect: 'safe',
    action: async (raw) => {
      raw.send(wire.parse('s509', 'INSERT INTO patient (id, name) SELECT $1::int, upper($2)'), wire.bind('', 's509', ['509', c]), wire.execute(), wire.sync());
      return raw.collect();
    } });
});

attack('Bind/Execute after a refused unnamed Parse are not forwarded to the previous unnamed statement', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse "" INSERT INTO scratch … + Bind + Execute + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(wire.parse('', 'INSERT INTO scratch (id, t) VALUES ($1, $2)'), wire.bind('', '', ['1', 'harmless']), wire.execute(), wire.sync());
      return raw.collect();
    } });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: 'Parse "" (refused patient INSERT) + Bind [canary] + Execute + Sync', expect: REFUSE_UNSUPPORTED,
    action: async (raw) => {
      raw.send(wire.parse('', 'INSERT INTO patient (id, name) SELECT $1::int, upper($2)'), wire.bind('', '', ['510', c]), wire.execute(), wire.sync());
      return raw.collect();
    } });
});

attack('Parse of a text holding two statements (the second after a protected value)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: 'Parse "" two statements + Sync', expect: { refuse: ['0A000', '42601'] },
    action: async (raw) => {
      raw.send(wire.parse('', `INSERT INTO patient (id, name) VALUES (511, '${c}'); SELECT 1`), wire.sync());
      return raw.collect();
    } });
});

attack('a parameter cast to the declared type ($2::text) into an encrypted column', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'INSERT INTO patient (id, name) VALUES ($1, $2::text)', params: [512, c],
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 512', [{ name: c }]) });
});

attack('a parameter cast to bytea into an encrypted (bytea-stored) text column', async (t) => {
  // PostgreSQL reads the parameter as bytea and stores its text form '\x4341…' in the text column:
  // a proxy that drops the cast and encrypts the raw parameter stores something else.
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'INSERT INTO patient (id, name) VALUES ($1, $2::bytea)', params: [513, c],
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name FROM patient WHERE id = 513', [{ name: `\\x${hexOf(c)}` }]) });
});

attack('refused COPY … FROM STDIN, with CopyData sent right behind it (no wait for CopyInResponse)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: 'Query COPY patient … (FORMAT binary) + CopyData + CopyDone, then SELECT 1', expect: 'safe',
    action: async (raw) => {
      const data = Buffer.from(`514\t${c}\n`);
      const copyData = Buffer.concat([Buffer.from('d'), Buffer.alloc(4), data]);
      copyData.writeInt32BE(data.length + 4, 1);
      const done = Buffer.from([0x63, 0, 0, 0, 4]);
      raw.send(wire.query('COPY patient (id, name) FROM STDIN (FORMAT binary)'), copyData, done);
      const first = await raw.collect();
      raw.send(wire.query('SELECT 1'));
      await raw.collect();
      return first;
    } });
});

attack('FunctionCall (F) by a no-grant user: query_to_xml over patient', async (t) => {
  const oid = await oidOf(t, 'query_to_xml(text,boolean,boolean,text)');
  await t.step({ user: 'nobody', via: 'raw', sql: `FunctionCall query_to_xml (oid ${oid})`, expect: REFUSE_ANY,
    action: async (raw) => {
      raw.send(wire.functionCall(oid, ['SELECT id, name, ssn, note FROM patient', 't', 'f', '']));
      return raw.collect();
    } });
});

attack('FunctionCall (F) by the writer: set_config(search_path), then INSERT INTO patient (id, note)', async (t) => {
  const c = t.canary();
  const oid = await oidOf(t, 'set_config(text,text,boolean)');
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `FunctionCall set_config('search_path', 'archive, public') (oid ${oid})`, ...setupOrBlock,
    action: async (raw) => {
      raw.send(wire.functionCall(oid, ['search_path', 'archive, public', 'f']));
      return raw.collect();
    } });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `INSERT INTO patient (id, note) VALUES (515, '${c}')`, expect: 'safe' });
});

attack('FunctionCall (F) by the writer: set_config(standard_conforming_strings, off), then a hidden statement', async (t) => {
  const c = t.canary();
  const oid = await oidOf(t, 'set_config(text,text,boolean)');
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `FunctionCall set_config('standard_conforming_strings', 'off') (oid ${oid})`, ...setupOrBlock,
    action: async (raw) => {
      raw.send(wire.functionCall(oid, ['standard_conforming_strings', 'off', 'f']));
      return raw.collect();
    } });
  await t.step({ user: 'writer', via: 'raw', session: 'raw', sql: `SELECT '\\'' ; INSERT INTO patient (id, name) VALUES (516, reverse($$${[...c].reverse().join('')}$$)) --'`, expect: 'safe' });
});

attack('FunctionCall (F) by a read-only user: a side-effecting built-in (pg_terminate_backend of a writer)', async (t) => {
  await t.step({ user: 'writer', sql: 'SELECT 1', expect: 'ok' });
  const pid = await t.env.admin!.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = 'adv' AND usename = 'clarus_owner' AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1");
  const oid = await oidOf(t, 'pg_terminate_backend(integer,bigint)');
  await t.step({ user: 'reader', via: 'raw', sql: `FunctionCall pg_terminate_backend (oid ${oid})`, expect: REFUSE_ANY,
    action: async (raw) => {
      raw.send(wire.functionCall(oid, [String(pid.rows[0]?.pid ?? 0), '0']));
      return raw.collect();
    } });
});
