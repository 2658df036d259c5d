// testing/src/ports.ts: ports below the ephemeral range, distinct, bindable; a real bind conflict is recognised.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort, isAddressInUse, listenOn as listen } from './ports.ts';

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that a server can bind', async () => {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = [];
    for (let i = 0; i < 20; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(20);
    for (const p of ports) expect(p).toBeLessThan(first);
    const servers = await Promise.all(ports.slice(0, 5).map(listen));
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('recognises a bind conflict, and only that', async () => {
    const port = await freePort();
    const taken = await listen(port);
    try {
      const err = await listen(port).then((s) => { s.close(); return null; }, (e: unknown) => e);
      expect(isAddressInUse(err)).toBe(true);
      expect(isAddressInUse(new Error('kube-apiserver exited while waiting for /readyz:\nbind: address already in use'))).toBe(true);
      expect(isAddressInUse(new Error('connection refused'))).toBe(false);
    } finally {
      taken.close();
    }
  });
});
