// Reads one proxy's metrics listener (/readyz and /metrics), each request bounded by a timeout; an
// endpoint that does not answer is reported, never waited for.
const TIMEOUT_MS = 5000;

export interface Reading { ready: string; metrics: string | undefined }

async function get(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return { status: r.status, text: await r.text() };
  } catch {
    return undefined;
  }
}

/** `base` is the listener's URL (http://HOST:PORT, a trailing /metrics is ignored). */
export async function scrape(base: string): Promise<Reading> {
  const url = base.replace(/\/(metrics)?$/, '');
  const [ready, metrics] = await Promise.all([get(`${url}/readyz`), get(`${url}/metrics`)]);
  return { ready: ready ? (ready.status === 200 ? 'yes' : `no (${ready.status})`) : 'unreachable', metrics: metrics?.status === 200 ? metrics.text : undefined };
}
