// The one way test code picks a TCP port for a server it starts (PostgreSQL, Vault, etcd, the
// kube-apiserver...). A port the kernel picks (listen on 0) comes from the ephemeral range, the
// same range outgoing connections take their local ports from: between the check and the server's
// own bind, any client connect in the run (pg pools, fetch, the proxy's backends) may take it, and
// the server fails with "address already in use" (seen in CI: the kube-apiserver of an e2e file).
// So ports come from below the ephemeral range, at random, never the same twice in a process, and
// each is checked bindable on 127.0.0.1 before it is handed out. Parallel test files (other
// processes) may still pick the same port: harnesses that start several servers retry on a bind
// failure (e2e/src/controlplane.ts).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

const LOWEST = 10_000;
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (32768 when unreadable). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + 1000 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/** Whether a listener can bind `port` on 127.0.0.1 right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1, free a moment ago, below the ephemeral range, not handed out before by this process. */
export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (top - LOWEST));
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port found between ${LOWEST} and ${top}`);
}

/** A listener on `port` of 127.0.0.1 (tests that need a port taken for real). */
export function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/** Whether an error (or a process's log tail in its message) says a port was taken. */
export function isAddressInUse(e: unknown): boolean {
  const text = e instanceof Error ? `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` : String(e);
  return /EADDRINUSE|address already in use/i.test(text);
}
