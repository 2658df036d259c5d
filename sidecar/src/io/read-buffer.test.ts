import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ReadBuffer } from './read-buffer.ts';

// A real loopback connection: the peer writes, the ReadBuffer side reads with the `onread` option.
let cleanup: Array<() => void> = [];
afterEach(() => { for (const f of cleanup) f(); cleanup = []; });

async function pair(): Promise<{ reads: ReadBuffer; socket: Socket; peer: Socket }> {
  const peers: Socket[] = [];
  const server = createServer((s) => peers.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const reads = new ReadBuffer();
  const socket = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', onread: reads.option });
  reads.bind(socket);
  await new Promise((r) => socket.once('connect', r));
  while (peers.length === 0) await new Promise((r) => setTimeout(r, 5));
  cleanup.push(() => { socket.destroy(); peers[0]?.destroy(); server.close(); });
  return { reads, socket, peer: peers[0] as Socket };
}

const nextChunk = (reads: ReadBuffer, lend = false): Promise<Buffer> => new Promise((r) => {
  reads.sink = (c) => { reads.sink = null; if (lend) reads.lend(); r(c); };
});

describe('ReadBuffer', () => {
  it('reads into the same memory until lent, then into new memory', async () => {
    const { reads, peer } = await pair();
    const first = nextChunk(reads);
    peer.write('one');
    const a = await first;
    expect(a.toString()).toBe('one');
    const aBuf = a.buffer;
    // Lent during the call: the bytes of 'two' are kept, the next read must not overwrite them.
    const second = nextChunk(reads, true);
    peer.write('two');
    const b = await second;
    expect(b.toString()).toBe('two');
    expect(b.buffer).toBe(aBuf);
    expect(a.toString()).toBe('two');
    const third = nextChunk(reads);
    peer.write('six');
    const c = await third;
    expect(c.toString()).toBe('six');
    expect(c.buffer).not.toBe(aBuf);
    expect(b.toString()).toBe('two');
  });

  it('before a sink is attached, emits copies as data events (the handshake reader)', async () => {
    const { reads, socket, peer } = await pair();
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(c));
    peer.write('hello');
    while (got.length === 0) await new Promise((r) => setTimeout(r, 5));
    peer.write('world');
    while (got.length < 2 && Buffer.concat(got).length < 10) await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.concat(got).toString()).toBe('helloworld');
    // Copies: the first chunk still reads 'hello' after the second read reused the buffer.
    expect(got[0]?.toString().startsWith('hello')).toBe(true);
    expect(reads.sink).toBeNull();
  });
});
