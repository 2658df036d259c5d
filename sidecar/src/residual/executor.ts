// Where a residual call's protocol batch runs: a PGlite instance in this thread (the event loop is
// busy for the whole call) or in a worker thread of its own (the proxy keeps serving other sessions
// meanwhile; the batch and the answer are transferred, not copied). Either way one executor runs one
// batch at a time, in the order given.
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { engineDatabaseLocale, engineInitdbParams, type EngineLocale } from './collation.ts';
import { shippedDataDir, type ShippedDataDirs } from './datadir.ts';

export interface Executor {
  exec(batch: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
  /** How its instance was made: initdb, or loaded from a fresh instance's data directory. */
  readonly startedFrom: 'initdb' | 'dataDir';
}

/** Creates the temporary schema once, outside any call. */
export const WARMUP_SQL = 'CREATE TEMP TABLE clarus_residual_warmup (x int); DROP TABLE clarus_residual_warmup';

const LOCALE_SQL = "SELECT datlocprovider::text || ' ' || datcollate || ' ' || coalesce(datlocale, '') AS l FROM pg_database WHERE datname = current_database()";

/**
 * A new instance: initdb'd for `locale`, or loaded from `dataDir` (a fresh instance's data
 * directory, freshDataDir) when given and of that locale, which skips initdb (seconds less).
 */
export async function startPglite(locale: EngineLocale, dataDir?: Uint8Array): Promise<{ db: PGlite; loaded: boolean }> {
  if (dataDir) {
    const loaded = await PGlite.create({ loadDataDir: new Blob([dataDir as Uint8Array<ArrayBuffer>]) }).catch(() => null);
    const l = loaded ? (await loaded.query<{ l: string }>(LOCALE_SQL).catch(() => null))?.rows[0]?.l : undefined;
    if (loaded && l === engineDatabaseLocale(locale)) {
      await loaded.exec(WARMUP_SQL);
      return { db: loaded, loaded: true };
    }
    await loaded?.close().catch(() => undefined);
  }
  const db = await PGlite.create({ initDbStartParams: engineInitdbParams(locale) });
  await db.exec(WARMUP_SQL);
  return { db, loaded: false };
}

/**
 * Per engine locale, the data directory of a fresh instance (initdb'd and warmed up, dumped before
 * its first call, so it never held a candidate value), gzipped (≈ 4.5 MiB), kept when none was
 * shipped with the build or the shipped one did not load: a later worker loads it instead of
 * running initdb, seconds less.
 */
const freshDataDirs = new Map<EngineLocale, Uint8Array>();

/** The fresh data directory kept for `locale`, if any (tests). */
export function freshDataDir(locale: EngineLocale): Uint8Array | undefined {
  return freshDataDirs.get(locale);
}

/**
 * Runs one batch and returns the answer bytes. The streaming entry point, not execProtocolRawSync:
 * that one also parses every answer message into objects it keeps (memory grew by about 4 MiB per
 * 20,000-row answer, for good) and was 4–6× slower. With syncToFs off the whole batch still runs
 * synchronously, inside this call.
 */
export async function execBatch(db: PGlite, batch: Uint8Array): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // The chunk is a view into the instance's memory: copy it before the next one overwrites it.
  await db.execProtocolRawStream(batch, { syncToFs: false, onRawData: (d: Uint8Array) => { chunks.push(d.slice()); size += d.length; } });
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

export async function inlineExecutor(locale: EngineLocale): Promise<Executor> {
  const { db } = await startPglite(locale);
  return {
    startedFrom: 'initdb',
    exec: (batch) => execBatch(db, batch),
    close: () => db.close(),
  };
}

interface Pending { resolve(answer: Uint8Array): void; reject(e: Error): void }

/** Messages from the worker (worker.ts); `dataDir`: its fresh data directory (a gzipped tar). */
export type WorkerReply = { type: 'ready'; loaded: boolean } | { type: 'answer'; id: number; answer: Uint8Array } | { type: 'failed'; id: number; message: string }
  | { type: 'dataDir'; gz: Uint8Array };

/**
 * What a worker is started with (worker.ts): a fresh data directory kept by this process, or else
 * the path of the one shipped with the build (datadir.ts), which the worker reads itself (the
 * proxy's thread never holds it).
 */
export interface WorkerStart { locale: EngineLocale; dataDir?: Uint8Array; dataDirPath?: string }

/** The fresh data directory a new worker of `locale` is given: the one kept, else the shipped one's path. */
function dataDirFor(locale: EngineLocale, shipped: ShippedDataDirs): Pick<WorkerStart, 'dataDir' | 'dataDirPath'> {
  const kept = freshDataDirs.get(locale);
  if (kept) return { dataDir: kept };
  const path = shippedDataDir(locale, shipped);
  return path ? { dataDirPath: path } : {};
}

/** `shipped`: where the build's fresh data directories are (datadir.ts; tests pass null or a folder). */
export async function workerExecutor(locale: EngineLocale, shipped: ShippedDataDirs = 'build'): Promise<Executor> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: { locale, ...dataDirFor(locale, shipped) } satisfies WorkerStart });
  const pending = new Map<number, Pending>();
  let next = 0;
  /** Set once the worker failed or exited: later calls fail at once instead of waiting forever. */
  let dead: Error | null = null;
  const failAll = (e: Error) => { dead ??= e; for (const p of pending.values()) p.reject(e); pending.clear(); };
  const loaded = await new Promise<boolean>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: WorkerReply) => (m.type === 'ready' ? resolve(m.loaded) : reject(new Error('residual worker: unexpected first message'))));
  });
  worker.on('message', (m: WorkerReply) => {
    if (m.type === 'ready') return;
    if (m.type === 'dataDir') {
      freshDataDirs.set(locale, m.gz);
      return;
    }
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (pending.size === 0) worker.unref();
    if (m.type === 'answer') p?.resolve(m.answer);
    else p?.reject(new Error(`residual worker: ${m.message}`));
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`residual worker exited (${code})`)));
  // The engine keeps the process alive only while a call is pending: a proxy that drained its
  // sessions exits.
  worker.unref();
  return {
    startedFrom: loaded ? 'dataDir' : 'initdb',
    exec: (batch) => new Promise<Uint8Array>((resolve, reject) => {
      if (dead) { reject(dead); return; }
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.ref();
      // A buffer of its own to transfer (a Buffer may be a view into Node's shared pool, which cannot move).
      const copy = !Buffer.isBuffer(batch) && batch.byteOffset === 0 && batch.byteLength === batch.buffer.byteLength ? batch : new Uint8Array(batch);
      worker.postMessage({ id, batch: copy }, [copy.buffer as ArrayBuffer]);
    }),
    close: async () => {
      if (dead) return;
      const exited = new Promise((r) => worker.once('exit', r));
      worker.ref();
      worker.postMessage({ id: -1, close: true });
      await exited;
    },
  };
}
