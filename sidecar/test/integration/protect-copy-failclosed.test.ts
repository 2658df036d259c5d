// Issue 8, COPY: protected COPY FROM STDIN data goes through the encryption hooks whatever the
// timing (CopyData pipelined before the backend's CopyInResponse, several COPYs in one Query, the
// extended protocol's Sync inside COPY), stray CopyData/CopyDone/CopyFail never reach the backend,
// and text/CSV data is split into rows and fields exactly as PostgreSQL 15 does (line endings
// fixed by the first line, HEADER, escapes decoded to bytes, the end-of-data marker) or refused
// like PostgreSQL refuses it. Every test looks at what the client sees and at what the backend
// received: every byte the proxy sends the backend passes a recording TCP relay, and the stored
// rows and a pg_dump are scanned for the canaries.
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendMessage } from '../../src/protocol/backend.ts';
import type { FrontendMessage } from '../../src/protocol/frontend.ts';
import { csvRowTransformer } from '../../src/protection/copy-csv.ts';
import { copyRowTransformer } from '../../src/protection/copy-text.ts';
import { StatementError } from '../../src/session/pipeline.ts';
import { CREATE_PATIENT, USERS, canariesInDump, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { frontendBytes, RawClient, summarize } from '@clarus/testing/proxy.ts';

/** A TCP relay in front of PostgreSQL that keeps every byte the proxy sends (what the cloud receives). */
class Recorder {
  private readonly server: Server;
  private readonly sockets: Socket[] = [];
  private sent: Buffer[] = [];
  port = 0;
  constructor(target: PgCluster) {
    this.server = createServer((s) => {
      const up = connect(target.port, target.host);
      this.sockets.push(s, up);
      s.on('data', (c: Buffer) => { this.sent.push(Buffer.from(c)); up.write(c); });
      up.on('data', (c: Buffer) => s.write(c));
      s.on('close', () => up.destroy());
      up.on('close', () => s.destroy());
      s.on('error', () => undefined);
      up.on('error', () => undefined);
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  /** Canaries found in anything the proxy sent the backend so far. */
  seen(canaries: string[]): string[] {
    const all = Buffer.concat(this.sent).toString('latin1');
    const utf8 = Buffer.concat(this.sent).toString('utf8');
    return canaries.filter((c) => all.includes(c) || utf8.includes(c));
  }
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

let cluster: PgCluster;
let recorder: Recorder;
let env: ProtectedEnv;
const clients: Array<{ end(): Promise<void> }> = [];

async function as(user: typeof USERS[keyof typeof USERS]): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(user) });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

async function raw(user: typeof USERS[keyof typeof USERS] = USERS.doctor): Promise<RawClient> {
  const r = await RawClient.open(env.proxy.port, user);
  clients.push({ end: async () => { r.socket.destroy(); } });
  return r;
}

const bytes = frontendBytes;
const data = (s: string | Buffer): FrontendMessage => ({ type: 'CopyData', data: typeof s === 'string' ? Buffer.from(s, 'utf8') : s });
const DONE: FrontendMessage = { type: 'CopyDone' };
const SYNC: FrontendMessage = { type: 'Sync' };

const cycle = (r: RawClient): Promise<BackendMessage[]> => r.cycle();

const summary = (ms: BackendMessage[]): string[] => summarize(ms);

/** Every leak check of one step: what the proxy sent, what is stored, the whole database. */
async function noLeak(canaries: string[]): Promise<void> {
  expect(recorder.seen(canaries)).toEqual([]);
  expect(await canariesInTable(env.backend, 'patient', canaries)).toEqual([]);
}

async function names(ids: number[]): Promise<Array<string | null>> {
  const doc = await as(USERS.doctor);
  const r = await doc.query('SELECT pat_id, pat_name FROM patient WHERE pat_id = ANY($1::int[]) ORDER BY pat_id', [ids]);
  return r.rows.map((x) => x.pat_name as string | null);
}

beforeAll(async () => {
  cluster = await startPostgres();
  recorder = new Recorder(cluster);
  await recorder.listen();
  env = await startProtected({ ...cluster, port: recorder.port });
  const doc = await as(USERS.doctor);
  await doc.query(CREATE_PATIENT);
  await doc.query('CREATE TABLE ward (id int, note text)');
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await env?.close();
  recorder?.close();
  await cluster?.destroy();
});

describe('COPY FROM STDIN data sent before the backend answers', () => {
  it('encrypts CopyData that arrives in the same write as the COPY Query', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql: 'COPY patient (pat_id, pat_name) FROM STDIN' }, data('101\tPipe Canaryone\n'), DONE]));
    expect(summary(await cycle(r))).toEqual(['CopyInResponse', 'C COPY 1', 'Z I']);
    await noLeak(['Pipe Canaryone']);
    expect(await names([101])).toEqual(['Pipe Canaryone']);
  });

  it('encrypts a whole libpq-style extended COPY written at once (the Sync inside COPY is consumed by it)', async () => {
    const r = await raw();
    r.socket.write(bytes([
      { type: 'Parse', name: '', sql: 'COPY patient (pat_id, pat_name) FROM STDIN', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Describe', target: 'P', name: '' },
      { type: 'Execute', portal: '', maxRows: 0 },
      SYNC, data('102\tPipe Canarytwo\n'), data('103\tPipe Canarythree\n'), DONE, SYNC,
    ]));
    expect(summary(await cycle(r))).toEqual(['ParseComplete', 'BindComplete', 'NoData', 'CopyInResponse', 'C COPY 2', 'Z I']);
    // The session's bookkeeping is still aligned: a decrypted extended-protocol read on the same connection.
    r.socket.write(bytes([
      { type: 'Parse', name: '', sql: 'SELECT pat_name FROM patient WHERE pat_id = 103', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], values: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 }, SYNC,
    ]));
    const rows = (await cycle(r)).filter((m) => m.type === 'DataRow');
    expect(rows.map((m) => (m.type === 'DataRow' ? Buffer.from(m.values[0] as Uint8Array).toString() : ''))).toEqual(['Pipe Canarythree']);
    await noLeak(['Pipe Canarytwo', 'Pipe Canarythree']);
  });

  it('sends each COPY of a multi-statement Query through its own hooks, data written at once', async () => {
    const r = await raw();
    r.socket.write(bytes([
      { type: 'Query', sql: 'COPY ward (id, note) FROM STDIN; COPY patient (pat_id, pat_name) FROM STDIN' },
      data('1\tnot protected\n'), DONE, data('104\tMulti Canaryfour\n'), DONE,
    ]));
    expect(summary(await cycle(r))).toEqual(['CopyInResponse', 'C COPY 1', 'CopyInResponse', 'C COPY 1', 'Z I']);
    await noLeak(['Multi Canaryfour']);
    expect(await names([104])).toEqual(['Multi Canaryfour']);
    expect((await env.backend.query('SELECT note FROM ward')).rows).toEqual([{ note: 'not protected' }]);
  });

  it('still streams an unprotected COPY whose data arrives before CopyInResponse', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql: 'COPY ward (id, note) FROM STDIN' }, data('2\tearly\n'), data('3\tearly too\n'), DONE]));
    expect(summary(await cycle(r))).toEqual(['CopyInResponse', 'C COPY 2', 'Z I']);
  });
});

describe('CopyData, CopyDone and CopyFail when no COPY is in progress', () => {
  it('never forwards data written after a refused COPY', async () => {
    const r = await raw(USERS.analyst);
    r.socket.write(bytes([{ type: 'Query', sql: 'COPY patient (pat_id, pat_name) FROM STDIN' }, data('105\tStray Canaryfive\n'), DONE]));
    expect(summary(await cycle(r))).toEqual(['E 42501', 'Z I']);
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT 1' }]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'DataRow', 'C SELECT 1', 'Z I']);
    await noLeak(['Stray Canaryfive']);
  });

  it('never forwards data after a statement that is no COPY, nor after a finished COPY', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT 1' }, data('106\tStray Canarysix\n'), DONE]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'DataRow', 'C SELECT 1', 'Z I']);
    r.socket.write(bytes([{ type: 'Query', sql: 'COPY patient (pat_id, pat_name) FROM STDIN' }, data('107\tFine Canaryseven\n'), DONE,
      data('108\tStray Canaryeight\n'), DONE, { type: 'CopyFail', message: 'Stray Canarynine' }]));
    expect(summary(await cycle(r))).toEqual(['CopyInResponse', 'C COPY 1', 'Z I']);
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT 2' }]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'DataRow', 'C SELECT 1', 'Z I']);
    await noLeak(['Stray Canarysix', 'Fine Canaryseven', 'Stray Canaryeight', 'Stray Canarynine']);
    expect(await names([106, 107, 108])).toEqual(['Fine Canaryseven']);
  });

  it('never forwards data written after a COPY that fails before it starts', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql: 'COPY patient (pat_id, pat_name, no_such_column) FROM STDIN' }, data('109\tStray Canaryten\t1\n'), DONE]));
    const answer = summary(await cycle(r));
    expect(answer[0]?.startsWith('E ')).toBe(true);
    expect(answer.at(-1)).toBe('Z I');
    await noLeak(['Stray Canaryten']);
  });
});

describe('COPY text and CSV read exactly as PostgreSQL reads them', () => {
  /** Rows as PostgreSQL 15 itself parses the data (COPY into a plain text table), or its SQLSTATE. */
  async function postgresRows(options: string, input: Buffer, columns: number): Promise<string[][] | string> {
    const c = new pg.Client({ connectionString: cluster.url() });
    await c.connect();
    try {
      const cols = Array.from({ length: columns }, (_, i) => `c${i} text`).join(', ');
      await c.query(`CREATE TEMP TABLE t (n serial, ${cols})`);
      const names = Array.from({ length: columns }, (_, i) => `c${i}`).join(', ');
      try {
        await pipeline(Readable.from([input]), c.query(copyFrom(`COPY t (${names}) FROM STDIN ${options}`)));
      } catch (e) {
        return (e as { code?: string }).code ?? 'error';
      }
      const r = await c.query(`SELECT ${Array.from({ length: columns }, (_, i) => `coalesce(encode(convert_to(c${i}, 'UTF8'), 'hex'), 'NULL')`).join(' || \'|\' || ')} AS v FROM t ORDER BY n`);
      return r.rows.map((x) => (x.v as string).split('|'));
    } finally {
      await c.end();
    }
  }

  /**
   * Rows as the proxy's COPY reader parses the same data (fed in chunks of `chunk` bytes), with the
   * field count check of the COPY hooks (access/copy-hooks.ts).
   */
  function proxyRows({ kind, header, columns = 2 }: { kind: 'text' | 'csv'; header: boolean; columns?: number }, input: Buffer, chunk: number): string[][] | string {
    const rows: string[][] = [];
    const fn = (fields: Array<string | null>) => {
      if (fields.length !== columns) throw new StatementError('22P04', 'field count');
      rows.push(fields.map((f) => (f === null ? 'NULL' : Buffer.from(f, 'utf8').toString('hex'))));
      return fields;
    };
    const t = kind === 'csv' ? csvRowTransformer({ delimiter: ',', quote: '"', header }, fn) : copyRowTransformer(fn, { delimiter: '\t', header });
    try {
      t.begin?.();
      for (let i = 0; i < input.length; i += chunk) t.data(input.subarray(i, i + chunk));
      t.finish?.();
    } catch (e) {
      if (e instanceof StatementError) return e.code;
      throw e;
    }
    return rows;
  }

  const TEXT_CASES: Array<[string, string, number]> = [
    ['LF', 'a\tb\nc\td\n', 2],
    ['CR', 'a\tb\rc\td\r', 2],
    ['CRLF', 'a\tb\r\nc\td\r\n', 2],
    ['no final newline', 'a\tb\nc\td', 2],
    ['literal CR in LF data', 'a\tb\nc\rd\te\n', 2],
    ['literal LF in CR data', 'a\tb\rc\nd\te\r', 2],
    ['bare CR in CRLF data', 'a\tb\r\nc\rd\te\r\n', 2],
    ['escapes', 'x\\tab\\\\\\n\\r\\b\\f\\v\tend\n', 2],
    ['hex UTF-8 bytes', 'Caf\\xc3\\xa9\t\\xe2\\x82\\xac\n', 2],
    ['octal UTF-8 bytes', 'Caf\\303\\251\t\\342\\202\\254\n', 2],
    ['short hex and octal', '\\x4\\x4G\\7\\78\t\\101\\0101\n', 2],
    ['\\x without digits', '\\xg\t\\x\n', 2],
    ['invalid UTF-8 from escapes', '\\xff\tb\n', 2],
    ['NUL from escapes', 'a\\0b\tc\n', 2],
    ['invalid raw UTF-8', Buffer.from([0x61, 0xff, 0x09, 0x62, 0x0a]).toString('latin1'), 2],
    ['\\N is NULL only as the whole field', '\\N\t\\Nx\n\\\\N\t\\N\n', 2],
    ['backslash-newline is data', 'a\\\nb\tc\n', 2],
    ['backslash-CR is data', 'a\\\rb\tc\r', 2],
    ['end marker on its own line', 'a\tb\n\\.\nc\td\n', 2],
    ['end marker after data on a line', 'a\tb\nc\td\\.\ne\tf\n', 2],
    ['end marker with CRLF', 'a\tb\r\n\\.\r\nc\td\r\n', 2],
    ['end marker style mismatch', 'a\tb\r\n\\.\nc\td\r\n', 2],
    ['end marker corrupt', 'a\tb\n\\.x\n', 2],
    ['end marker at the very end', 'a\tb\n\\.', 2],
    ['trailing backslash', 'a\tb\\', 2],
    ['escaped delimiter', 'a\\\tb\tc\n', 2],
    ['too many fields', 'a\tb\tc\n', 2],
    ['too few fields', 'a\n', 2],
    ['empty line', 'a\tb\n\nc\td\n', 2],
  ];

  const CSV_CASES: Array<[string, string, number]> = [
    ['LF', 'a,b\nc,d\n', 2],
    ['CR', 'a,b\rc,d\r', 2],
    ['CRLF', 'a,b\r\nc,d\r\n', 2],
    ['quoted newlines and CRs', '"x\ny","p\rq"\n"z\r\nw",v\n', 2],
    ['quotes', '"a""b",c"d"e\n"",\n', 2],
    ['unquoted CR in LF data', 'a,b\nc\rd,e\n', 2],
    ['unterminated quote', 'a,"b\n', 2],
    ['end marker', 'a,b\n\\.\nc,d\n', 2],
    ['end marker not alone', 'a,b\n\\.x,y\n', 2],
    ['end marker inside quotes', '"a\n\\.\n",b\n', 2],
    ['backslash is data', 'a\\,b\\N\n', 2],
    ['raw UTF-8', 'Café,€\n', 2],
    ['spaces kept', ' a , b \n', 2],
    ['too many fields', 'a,b,c\n', 2],
  ];

  it('text: every case gives PostgreSQL\'s rows (or its error), whatever the chunking', async () => {
    for (const [name, text, cols] of TEXT_CASES) {
      const input = Buffer.from(text, 'latin1');
      const expected = await postgresRows('', input, cols);
      for (const chunk of [1, 2, 3, 7, input.length || 1]) expect(proxyRows({ kind: 'text', header: false, columns: cols }, input, chunk), `${name} (chunks of ${chunk})`).toEqual(expected);
    }
  });

  it('text with HEADER: the first line, whatever its ending, is the header', async () => {
    for (const text of ['h1\th2\ra\tb\rc\td\r', 'h1\th2\r\na\tb\r\n', 'h1\th2\na\tb\n', 'h1\\\th2\na\tb\n', 'h\\.\na\tb\n']) {
      const input = Buffer.from(text, 'latin1');
      const expected = await postgresRows('(HEADER)', input, 2);
      for (const chunk of [1, 3, input.length]) expect(proxyRows({ kind: 'text', header: true }, input, chunk), JSON.stringify(text)).toEqual(expected);
    }
  });

  it('csv: every case gives PostgreSQL\'s rows (or its error), whatever the chunking', async () => {
    for (const [name, text, cols] of CSV_CASES) {
      const input = Buffer.from(text, 'utf8');
      const expected = await postgresRows('(FORMAT csv)', input, cols);
      for (const chunk of [1, 2, 5, input.length]) expect(proxyRows({ kind: 'csv', header: false, columns: cols }, input, chunk), `${name} (chunks of ${chunk})`).toEqual(expected);
    }
    for (const text of ['h1,h2\ra,b\r', 'h1,h2\r\na,b\r\n', '"h\n1",h2\na,b\n']) {
      const input = Buffer.from(text, 'utf8');
      expect(proxyRows({ kind: 'csv', header: true }, input, 1), JSON.stringify(text)).toEqual(await postgresRows('(FORMAT csv, HEADER)', input, 2));
    }
  });
});

describe('COPY of a protected table: line endings, HEADER, escapes, encodings', () => {
  async function copyIn(sql: string, payload: Buffer | string): Promise<string[]> {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql }, data(payload), DONE]));
    return summary(await cycle(r));
  }

  it('a HEADER line ending in a bare CR does not hide a data row', async () => {
    expect(await copyIn('COPY patient (pat_id, pat_name) FROM STDIN (HEADER)', 'pat_id\tpat_name\r110\tHeader Canaryeleven\r111\tHeader Canarytwelve\r'))
      .toEqual(['CopyInResponse', 'C COPY 2', 'Z I']);
    await noLeak(['Header Canaryeleven', 'Header Canarytwelve']);
    expect(await names([110, 111])).toEqual(['Header Canaryeleven', 'Header Canarytwelve']);
  });

  it('CSV with CR-only line endings and a HEADER', async () => {
    expect(await copyIn('COPY patient (pat_id, pat_name) FROM STDIN (FORMAT csv, HEADER)', 'pat_id,pat_name\r112,"Csv, Canarythirteen"\r113,Csv Canaryfourteen\r'))
      .toEqual(['CopyInResponse', 'C COPY 2', 'Z I']);
    await noLeak(['Canarythirteen', 'Csv Canaryfourteen']);
    expect(await names([112, 113])).toEqual(['Csv, Canarythirteen', 'Csv Canaryfourteen']);
  });

  it('HEADER with CRLF line endings, text and CSV', async () => {
    expect(await copyIn('COPY patient (pat_id, pat_name) FROM STDIN (HEADER)', 'pat_id\tpat_name\r\n114\tCrlf Canaryfifteen\r\n')).toEqual(['CopyInResponse', 'C COPY 1', 'Z I']);
    expect(await copyIn('COPY patient (pat_id, pat_name) FROM STDIN (FORMAT csv, HEADER)', 'pat_id,pat_name\r\n115,Crlf Canarysixteen\r\n')).toEqual(['CopyInResponse', 'C COPY 1', 'Z I']);
    await noLeak(['Crlf Canaryfifteen', 'Crlf Canarysixteen']);
    expect(await names([114, 115])).toEqual(['Crlf Canaryfifteen', 'Crlf Canarysixteen']);
  });

  it('encrypts the bytes that hex and octal escapes stand for', async () => {
    expect(await copyIn('COPY patient (pat_id, pat_name, diagnosis) FROM STDIN', '116\tCaf\\xc3\\xa9 Canary\\x21\tna\\303\\257ve\n')).toEqual(['CopyInResponse', 'C COPY 1', 'Z I']);
    const doc = await as(USERS.doctor);
    expect((await doc.query('SELECT pat_name, diagnosis FROM patient WHERE pat_id = 116')).rows).toEqual([{ pat_name: 'Café Canary!', diagnosis: 'naïve' }]);
    // Deterministic encryption of the decoded value: an equality search on the plain text finds it.
    expect((await doc.query("SELECT pat_id FROM patient WHERE diagnosis = 'naïve'")).rows).toEqual([{ pat_id: 116 }]);
    await noLeak(['Café Canary', 'Caf\\xc3']);
  });

  it('refuses data PostgreSQL would refuse, before anything reaches the backend, and the session goes on', async () => {
    const r = await raw();
    r.socket.write(bytes([{ type: 'Query', sql: 'COPY patient (pat_id, pat_name) FROM STDIN' }, data('117\tBad Canaryseventeen\n118\tBad\rCanaryeighteen\n'), DONE]));
    const answer = await cycle(r);
    expect(summary(answer)).toEqual(['CopyInResponse', 'E 22P04', 'Z I']);
    const err = answer.find((m) => m.type === 'ErrorResponse');
    expect(err?.type === 'ErrorResponse' && err.fields.M).toMatch(/carriage return/);
    r.socket.write(bytes([{ type: 'Query', sql: 'SELECT 3' }]));
    expect(summary(await cycle(r))).toEqual(['RowDescription', 'DataRow', 'C SELECT 1', 'Z I']);
    // The COPY failed as a whole: not even the good first row is stored.
    expect(await names([117, 118])).toEqual([]);
    await noLeak(['Bad Canaryseventeen', 'Canaryeighteen']);
  });

  it('refuses COPY … ENCODING other than UTF8 on a protected table', async () => {
    const doc = await as(USERS.doctor);
    await expect(pipeline(Readable.from([Buffer.from('119\tLatin Canarynineteen\n', 'latin1')]), doc.query(copyFrom("COPY patient (pat_id, pat_name) FROM STDIN (ENCODING 'LATIN1')"))))
      .rejects.toMatchObject({ code: '0A000' });
    await pipeline(Readable.from(['120\tUtf Canarytwenty\n']), doc.query(copyFrom("COPY patient (pat_id, pat_name) FROM STDIN (ENCODING 'UTF8')")));
    expect(await names([119, 120])).toEqual(['Utf Canarytwenty']);
    await noLeak(['Latin Canarynineteen', 'Utf Canarytwenty']);
  });

  it('no canary of this file in a dump of the whole database', async () => {
    expect(await canariesInDump(cluster, ['Canaryone', 'Canarytwo', 'Canaryfour', 'Canaryfive', 'Canaryseven', 'Canaryeleven',
      'Canarythirteen', 'Canaryfifteen', 'Canarysixteen', 'Café Canary', 'Canaryseventeen', 'Canarytwenty'])).toEqual([]);
  });
});
