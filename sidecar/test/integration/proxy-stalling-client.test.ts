// A client that stops and starts reading a large result of distinct rows must get every byte as
// PostgreSQL sent it: the proxy's writes to it back up while the backend keeps sending, so any
// buffer the proxy reuses or keeps for a pending write would show up here as changed bytes.
// (Written for a reused backend read buffer, which was measured and reverted; the property holds
// for any read path.)
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrontend } from '../../src/protocol/frontend.ts';
import { startPassThrough } from '@clarus/testing/pass-through.ts';
import type { PassThrough } from '@clarus/testing/pass-through.ts';
import { RawClient } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';

let env: PassThrough;
let proxy: ProxyProcess;

beforeAll(async () => {
  env = await startPassThrough();
  ({ proxy } = env);
});
afterAll(async () => {
  await env?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROWS = 200_000;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** What PostgreSQL's COPY of `select i, md5(i::text)` sends, hashed. */
function expectedCopy(): string {
  const h = createHash('sha256');
  for (let i = 1; i <= ROWS; i++) h.update(`${i}\t${md5(String(i))}\n`);
  return h.digest('hex');
}

/** Pauses the client's reading now and then while it drains everything up to ReadyForQuery. */
async function readStuttering(raw: RawClient, onMessage: (m: Awaited<ReturnType<RawClient['read']>>) => void): Promise<void> {
  let n = 0;
  for (;;) {
    const m = await raw.read();
    onMessage(m);
    if (m.type === 'ReadyForQuery') return;
    if (++n % 20_000 === 0) {
      raw.socket.pause();
      await sleep(300);
      raw.socket.resume();
    }
  }
}

describe('a client that stalls mid-result', () => {
  it('a client that stops reading gets every byte of a large COPY TO STDOUT unchanged', async () => {
    const raw = await RawClient.open(proxy.port);
    raw.socket.pause();
    raw.socket.write(encodeFrontend({ type: 'Query', sql: `copy (select i, md5(i::text) from generate_series(1, ${ROWS}) i) to stdout` }).finish());
    // The proxy's writes to the client back up while the backend keeps sending.
    await sleep(1500);
    raw.socket.resume();
    const h = createHash('sha256');
    let tag = '';
    await readStuttering(raw, (m) => {
      if (m.type === 'CopyData') h.update(m.data);
      if (m.type === 'CommandComplete') tag = m.tag;
      if (m.type === 'ErrorResponse') throw new Error(JSON.stringify(m));
    });
    raw.socket.destroy();
    expect(tag).toBe(`COPY ${ROWS}`);
    expect(h.digest('hex')).toBe(expectedCopy());
  });

  it('the same for the rows of a simple query, followed by more statements on the session', async () => {
    const raw = await RawClient.open(proxy.port);
    raw.socket.pause();
    raw.socket.write(encodeFrontend({ type: 'Query', sql: `select i, md5(i::text) from generate_series(1, ${ROWS}) i; select 'after'` }).finish());
    await sleep(1500);
    raw.socket.resume();
    const h = createHash('sha256');
    let rows = 0;
    let after = '';
    await readStuttering(raw, (m) => {
      if (m.type !== 'DataRow') return;
      const [i, d] = m.values.map((v) => Buffer.from(v ?? []).toString());
      if (i === 'after') { after = i; return; }
      rows++;
      h.update(`${i}\t${d}\n`);
    });
    expect(rows).toBe(ROWS);
    expect(after).toBe('after');
    expect(h.digest('hex')).toBe(expectedCopy());
    raw.socket.write(encodeFrontend({ type: 'Query', sql: 'select 42' }).finish());
    const again = await raw.cycle();
    expect(again.some((m) => m.type === 'DataRow' && Buffer.from(m.values[0] ?? []).toString() === '42')).toBe(true);
    raw.socket.destroy();
  });
});
