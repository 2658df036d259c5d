// Class 5 (continued) — COPY … FROM STDIN, where the proxy must split rows and fields exactly as
// PostgreSQL does before encrypting: the end-of-data marker \. followed by more rows, text-format
// escapes (octal, hex, escaped delimiter), CSV quoting (doubled quotes, quoted newlines), \r\n line
// ends, rows and escapes split across CopyData messages, COPY without a column list, two COPY
// statements in one Query, and COPY through the extended protocol. Each either is refused or
// stores exactly the value PostgreSQL would have stored — encrypted.
import { adversarialSuite, readsBack, REFUSE_OR_REWRITE } from './harness.ts';
import type { Attack } from './harness.ts';
import { wire } from './raw.ts';

const { attack } = adversarialSuite();

const nameIs = (t: Attack, id: number, name: string) => readsBack(t, `SELECT name FROM patient WHERE id = ${id}`, [{ name }]);

attack('COPY text: rows after the end-of-data marker \\. are not sent in clear', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, name) FROM STDIN', copyIn: Buffer.from(`950\tA\n\\.\n951\t${c}\n`), expect: 'safe' });
});

attack('COPY csv: rows after the end-of-data marker \\. are not sent in clear', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, name) FROM STDIN (FORMAT csv)', copyIn: Buffer.from(`952,A\n\\.\n953,${c}\n`), expect: 'safe' });
});

attack('COPY text: octal escape \\103 for the first character', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, name) FROM STDIN', copyIn: Buffer.from(`954\t\\103${c.slice(1)}\n`),
    expect: REFUSE_OR_REWRITE, check: nameIs(t, 954, c) });
});

attack('COPY text: hex escape \\x43 for the first character', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, name) FROM STDIN', copyIn: Buffer.from(`955\t\\x43${c.slice(1)}\n`),
    expect: REFUSE_OR_REWRITE, check: nameIs(t, 955, c) });
});

attack("COPY text with DELIMITER '|': an escaped delimiter inside the plain column before the protected one", async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: "COPY patient (id, note, name) FROM STDIN (DELIMITER '|')", copyIn: Buffer.from(`956|a\\|b|${c}\n`),
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT note, name FROM patient WHERE id = 956', [{ note: 'a|b', name: c }]) });
});

attack('COPY csv: a doubled quote and a delimiter inside a quoted plain field before the protected one', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, note, name) FROM STDIN (FORMAT csv)', copyIn: Buffer.from(`957,"a,""b",${c}\n`),
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT note, name FROM patient WHERE id = 957', [{ note: 'a,"b', name: c }]) });
});

attack('COPY csv: a quoted field holding a newline before the protected one', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, note, name) FROM STDIN (FORMAT csv)', copyIn: Buffer.from(`958,"line1\n959,x",${c}\n`),
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT note, name FROM patient WHERE id = 958', [{ note: 'line1\n959,x', name: c }]) });
});

attack('COPY text with \\r\\n line ends', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient (id, name) FROM STDIN', copyIn: Buffer.from(`960\t${c}\r\n961\tsecond\r\n`),
    expect: REFUSE_OR_REWRITE, check: nameIs(t, 960, c) });
});

attack('COPY without a column list (the table\'s real column order)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', sql: 'COPY patient FROM STDIN', copyIn: Buffer.from(`962\t${c}\t\\N\t\\N\t\\N\t\\N\tplain note\n`),
    expect: REFUSE_OR_REWRITE, check: readsBack(t, 'SELECT name, note FROM patient WHERE id = 962', [{ name: c, note: 'plain note' }]) });
});

attack('COPY text: a row and an escape split across CopyData messages', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: 'COPY patient (id, name) FROM STDIN, data in 3 CopyData messages', expect: REFUSE_OR_REWRITE, check: nameIs(t, 963, c),
    action: async (raw) => {
      raw.send(wire.query('COPY patient (id, name) FROM STDIN'));
      return raw.collect(() => [wire.copyData('963\t\\'), wire.copyData(`103${c.slice(1, 6)}`), wire.copyData(`${c.slice(6)}\n`), wire.copyDone()]);
    } });
});

attack('two COPY … FROM STDIN in one Query: patient first, then the plain scratch', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: 'COPY patient (id, name) FROM STDIN; COPY scratch (id, t) FROM STDIN', expect: REFUSE_OR_REWRITE, check: nameIs(t, 964, c),
    action: async (raw) => {
      raw.send(wire.query('COPY patient (id, name) FROM STDIN; COPY scratch (id, t) FROM STDIN'));
      return raw.collect((n) => [wire.copyData(n === 0 ? `964\t${c}\n` : '964\tplain\n'), wire.copyDone()]);
    } });
});

attack('two COPY … FROM STDIN in one Query: the plain scratch first, then patient', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: 'COPY scratch (id, t) FROM STDIN; COPY patient (id, name) FROM STDIN', expect: REFUSE_OR_REWRITE, check: nameIs(t, 965, c),
    action: async (raw) => {
      raw.send(wire.query('COPY scratch (id, t) FROM STDIN; COPY patient (id, name) FROM STDIN'));
      return raw.collect((n) => [wire.copyData(n === 0 ? '965\tplain\n' : `965\t${c}\n`), wire.copyDone()]);
    } });
});

attack('COPY … FROM STDIN through the extended protocol (Parse/Bind/Execute)', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: 'Parse/Bind/Execute COPY patient (id, name) FROM STDIN + CopyData + CopyDone + Sync', expect: REFUSE_OR_REWRITE, check: nameIs(t, 966, c),
    action: async (raw) => {
      raw.send(wire.parse('', 'COPY patient (id, name) FROM STDIN'), wire.bind('', '', []), wire.execute(), Buffer.from([0x48, 0, 0, 0, 4]));
      const first = await Promise.race([raw.collect(() => [wire.copyData(`966\t${c}\n`), wire.copyDone(), wire.sync()]), new Promise<never>((_, j) => setTimeout(() => j(new Error('no answer')), 15_000))]);
      return first;
    } });
});

attack('COPY … FROM STDIN: the canary in a CopyData message sent after CopyDone', async (t) => {
  const c = t.canary();
  await t.step({ user: 'writer', via: 'raw', sql: 'COPY patient (id, name) FROM STDIN; stray CopyData after CopyDone', expect: 'safe',
    action: async (raw) => {
      raw.send(wire.query('COPY patient (id, name) FROM STDIN'));
      const r = await raw.collect(() => [wire.copyData('967\tA\n'), wire.copyDone(), wire.copyData(`968\t${c}\n`)]);
      raw.send(wire.query('SELECT 1'));
      await raw.collect();
      return r;
    } });
});
