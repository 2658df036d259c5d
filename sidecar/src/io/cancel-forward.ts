// Sending a CancelRequest to a backend on behalf of a client: a new connection, TLS if the
// backend's mode asks for it, the backend's own key, then close.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { encodeStartup } from '../protocol/startup.ts';
import { secure } from './backend.ts';
import type { CancelTarget } from './context.ts';

/** Cancels the session's backend (unless `also` says not) and every other connection working for it (`also`). */
export async function forwardCancel(t: CancelTarget, timeoutMs: number): Promise<void> {
  const { self, others } = t.also?.() ?? { self: true, others: [] };
  const sent = others.map((o) => {
    const p = cancelOne(o, timeoutMs);
    o.delivered?.(p.catch(() => undefined));
    return p;
  });
  await Promise.all([...(self ? [cancelOne(t, timeoutMs)] : []), ...sent]);
}

async function cancelOne(t: CancelTarget, timeoutMs: number): Promise<void> {
  const raw = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: t.backend.spec.host, port: t.backend.spec.port });
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timed out')));
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  try {
    const s = await secure(t.backend, raw);
    await new Promise<void>((resolve) => {
      s.end(encodeStartup({ type: 'CancelRequest', processId: t.processId, secretKey: t.secretKey }));
      s.once('close', () => resolve());
      s.once('error', () => resolve());
    });
  } finally {
    raw.destroy();
  }
}
