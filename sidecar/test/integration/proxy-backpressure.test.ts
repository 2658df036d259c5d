// Backpressure through the proxy process: a client that stops reading a large COPY TO STDOUT, and a
// backend that consumes a large COPY FROM STDIN slowly, must not make the proxy buffer the stream
// (its resident memory stays bounded), and nothing may be lost.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writer } from '../../src/protocol/codec.ts';
import { encodeFrontend } from '../../src/protocol/frontend.ts';
import { startPassThrough } from '@clarus/testing/pass-through.ts';
import type { PassThrough } from '@clarus/testing/pass-through.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { RawClient } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';

let cluster: PgCluster;
let env: PassThrough;
let proxy: ProxyProcess;

beforeAll(async () => {
  env = await startPassThrough();
  ({ cluster, proxy } = env);
});
afterAll(async () => {
  await env?.close();
});

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.child.pid}/status`, 'utf8'))?.[1]) / 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STREAM_MIB = 256;

describe('backpressure', () => {
  it('stops reading the backend while the client does not read (COPY TO STDOUT)', async () => {
    const raw = await RawClient.open(proxy.port);
    const before = rssMiB();
    raw.socket.pause();
    raw.socket.write(encodeFrontend({ type: 'Query', sql: `copy (select repeat('x', 1023) from generate_series(1, ${STREAM_MIB * 1024})) to stdout` }).finish());
    await sleep(3000);
    const during = rssMiB();
    let bytes = 0;
    raw.socket.resume();
    for (;;) {
      const m = await raw.read();
      if (m.type === 'CopyData') bytes += m.data.length;
      if (m.type === 'ReadyForQuery' || m.type === 'ErrorResponse') break;
    }
    raw.socket.destroy();
    expect(bytes).toBe(STREAM_MIB * 1024 * 1024);
    expect(during - before, 'proxy RSS growth in MiB').toBeLessThan(STREAM_MIB / 4);
  });

  it('stops reading the client while the backend consumes slowly (COPY FROM STDIN)', async () => {
    await cluster.psql(`create table t_slow(v text);
      create sequence t_slow_n;
      create function slow() returns trigger language plpgsql as $$
        begin if nextval('t_slow_n') % 1000 = 0 then perform pg_sleep(0.05); end if; return new; end $$;
      create trigger t_slow_trg before insert on t_slow for each row execute function slow();`);
    const raw = await RawClient.open(proxy.port);
    const before = rssMiB();
    raw.socket.write(encodeFrontend({ type: 'Query', sql: 'copy t_slow from stdin' }).finish());
    const resp = await raw.until('CopyInResponse');
    expect(resp.type).toBe('CopyInResponse');
    const line = Buffer.from(`${'y'.repeat(1023)}\n`);
    const chunk = new Writer(64 * 1024 + 16).begin(0x64).bytes(Buffer.concat(Array.from({ length: 64 }, () => line))).end().finish();
    const rows = (STREAM_MIB / 4) * 1024;
    let peak = 0;
    // Write as fast as the socket takes it; the client process buffers, the proxy must not.
    for (let i = 0; i < rows / 64; i++) {
      if (!raw.socket.write(chunk)) await new Promise((r) => raw.socket.once('drain', r));
      if (i % 256 === 0) peak = Math.max(peak, rssMiB());
      if (i === 512) { await sleep(1500); peak = Math.max(peak, rssMiB()); }
    }
    raw.socket.write(encodeFrontend({ type: 'CopyDone' }).finish());
    const done = await raw.until('CommandComplete');
    expect(done.type === 'CommandComplete' ? done.tag : '').toBe(`COPY ${rows}`);
    raw.socket.destroy();
    expect(await cluster.psql('select count(*) from t_slow')).toBe(`${rows}\n`);
    expect(peak - before, 'proxy RSS growth in MiB').toBeLessThan(STREAM_MIB / 8);
  });
});
