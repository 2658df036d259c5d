// The worker-thread side of workerExecutor (executor.ts): one PGlite instance, batches run in
// arrival order, answers transferred back.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { execBatch, startPglite, type WorkerReply, type WorkerStart } from './executor.ts';

interface Request { id: number; batch?: Uint8Array; close?: boolean }

/** The shipped data directory's bytes (one that cannot be read: initdb). */
function readDataDir(path: string): Uint8Array | undefined {
  try { return readFileSync(path); } catch { return undefined; }
}

const port = parentPort;
if (port === null) throw new Error('residual worker: not started as a worker thread');
const start = workerData as WorkerStart;
const { db, loaded } = await startPglite(start.locale, start.dataDir ?? (start.dataDirPath ? readDataDir(start.dataDirPath) : undefined));
// Batches run one at a time, in arrival order (each runs synchronously inside execBatch).
let tail: Promise<void> = Promise.resolve();
port.on('message', (req: Request) => {
  if (req.close) { void tail.then(() => db.close()).then(() => process.exit(0)); return; }
  tail = tail.then(async () => {
    let reply: WorkerReply;
    try {
      const raw = await execBatch(db, req.batch as Uint8Array);
      // Transfer only a buffer of the answer's own.
      const answer = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : new Uint8Array(raw);
      reply = { type: 'answer', id: req.id, answer };
    } catch (e) {
      reply = { type: 'failed', id: req.id, message: (e as Error).message };
    }
    port.postMessage(reply, reply.type === 'answer' ? [reply.answer.buffer as ArrayBuffer] : []);
  });
});
port.postMessage({ type: 'ready', loaded } satisfies WorkerReply);
// Not loaded from a fresh data directory (the first engine, or one given a directory that did not
// load): this one is dumped, gzipped here (the proxy's thread never holds the 40 MiB tar), before
// any call runs (the calls wait behind it, ≈ 0.3–0.5 s, once per process), so that it never holds
// a candidate value.
if (!loaded) {
  tail = tail.then(async () => {
    try {
      const gz = new Uint8Array(await (await db.dumpDataDir('gzip')).arrayBuffer());
      port.postMessage({ type: 'dataDir', gz } satisfies WorkerReply, [gz.buffer]);
    } catch { /* later engines run initdb */ }
  });
}
