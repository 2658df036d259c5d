// The native pass-through data path (build/native/clarus-relay.node, sidecar/native/relay.c):
// a thread of its own relays pass-through sessions between their two sockets with no JavaScript
// per message (issue 15, goal 1: Node's event and stream machinery cost a pass-through session
// about 20 µs per transaction where a C pooler's own code costs 3). io/session.ts hands a session
// to it at a statement boundary and takes it back, with every byte not yet handled, for anything
// but the plain relay: see relay.c. CLARUS_NATIVE_RELAY=0 turns it off; without the module (not
// Linux, not built) sessions are relayed in JavaScript, as they are when either side uses TLS.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { FATAL_PREFIX_BYTES, FATAL_FIELD } from '../protocol/backend.ts';
import { isFrontendTag } from '../protocol/frontend.ts';
import { FrontendTag } from '../protocol/tags.ts';
import { countNativeSessions, DURATION_BUCKETS, NativeStats } from '../metrics/metrics.ts';
import { nativeModulePath } from '../native.ts';
import { IN_BATCH } from '../session/relay.ts';

/** Why a session came back from the native relay (relay.c). */
export type StopReason = 'detached' | 'client-message' | 'backend-message' | 'client-closed' | 'backend-closed' | 'boundary' | 'idle' | 'failed';

/** A session's state when it comes back: what JavaScript's relay goes on from. */
export interface NativeRelayState {
  reason: StopReason;
  /** Whole client messages read and not yet written to the backend (write them first). */
  toBackend: Buffer;
  /** Client bytes not handled, from a message boundary: the JavaScript relay takes them next. */
  clientRest: Buffer;
  /** Backend bytes scanned and not yet written to the client (write them first). */
  toClient: Buffer;
  /** A backend chunk not scanned (its framing is invalid): the JavaScript relay takes it next. */
  backendRest: Buffer;
  scannerHead: Buffer;
  scannerRemaining: number;
  /** Bytes still to come of a long client message the thread was forwarding in pieces. */
  clientLeft: number;
  outstanding: number;
  batchOpen: number;
  txStatus: number;
  sawError: number;
  backendFatal: number;
  /** Statements started and not yet answered, oldest first: kind index (metrics.ts KINDS) and age. */
  inflightKinds: number[];
  inflightSeconds: number[];
}

export interface AttachOptions { maxMessageBytes: number; bufferBytes: number; idleMs: number; txStatus: number }

interface Module {
  init(opts: { classes: Uint8Array; fatal: Uint8Array; bounds: Float64Array; layout: Uint32Array }, onStop: (id: number) => void): void;
  attach(clientFd: number, backendFd: number, opts: AttachOptions, stats: Float64Array): number;
  detach(id: number): NativeRelayState | null;
  boundary(id: number): boolean;
  sessions(): number;
  trim(): boolean;
}

/** Tag classes of client messages (relay.c C_*): which the native relay forwards, and how each counts. */
export function tagClasses(): Uint8Array {
  const classes = new Uint8Array(256);
  for (let tag = 0; tag < 256; tag++) {
    if (!isFrontendTag(tag) || tag === FrontendTag.Terminate || tag === FrontendTag.AuthResponse) continue;
    classes[tag] = tag === FrontendTag.Query ? 1 : tag === FrontendTag.FunctionCall ? 2 : tag === FrontendTag.Sync ? 3 : IN_BATCH.has(tag) ? 4 : 5;
  }
  return classes;
}

/** Read buffer per direction and session; a longer client message is forwarded in pieces as it arrives. */
export const NATIVE_BUFFER_BYTES = 32 << 10;

type Listener = (state: NativeRelayState) => void;

/** Stops are dispatched through the process (one native thread per process, see relay.c init). */
const DISPATCH = Symbol.for('clarus.nativeRelay.dispatch');
type Dispatch = { onStop?: (id: number) => void };

export class NativeRelay {
  private readonly mod: Module;
  private readonly listeners = new Map<number, Listener>();

  constructor(mod: Module) {
    this.mod = mod;
    const g = globalThis as unknown as Record<symbol, Dispatch | undefined>;
    const dispatch = (g[DISPATCH] ??= {});
    dispatch.onStop = (id) => this.stopped(id);
    countNativeSessions(() => this.sessions());
    mod.init({ classes: tagClasses(), fatal: new Uint8Array(FATAL_FIELD.subarray(0, FATAL_PREFIX_BYTES)), bounds: Float64Array.from(DURATION_BUCKETS), layout: NativeStats.LAYOUT },
      (id) => (g[DISPATCH] as Dispatch).onStop?.(id));
  }

  /**
   * Hands both sockets to the native thread; `onStop` gets the state when it hands them back
   * (not after detach()). Null when a socket has no file descriptor.
   */
  attach(client: Socket, backend: Socket, opts: AttachOptions & { stats: Float64Array }, onStop: Listener): number | null {
    const cfd = fdOf(client), bfd = fdOf(backend);
    if (cfd === undefined || bfd === undefined) return null;
    const { stats, ...rest } = opts;
    const id = this.mod.attach(cfd, bfd, rest, stats);
    this.listeners.set(id, onStop);
    return id;
  }

  /** Takes the session back now, wherever it is; null when it had already stopped and was taken back. */
  detach(id: number): NativeRelayState | null {
    this.listeners.delete(id);
    return this.mod.detach(id);
  }

  /** Asks for the session back at its next statement boundary; true when it stopped there now (onStop follows). */
  boundary(id: number): boolean { return this.mod.boundary(id); }

  /** Sessions on the native thread now. */
  sessions(): number { return this.mod.sessions(); }

  private stopped(id: number): void {
    const listener = this.listeners.get(id);
    if (!listener) return;
    this.listeners.delete(id);
    const state = this.mod.detach(id);
    if (state) listener(state);
  }
}

interface Handle { fd?: number; reading?: boolean; readStop?(): number; readStart?(): number }

function handleOf(sock: Socket): Handle | undefined {
  return (sock as unknown as { _handle?: Handle | null })._handle ?? undefined;
}

function fdOf(sock: Socket): number | undefined {
  const fd = handleOf(sock)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Whether the native thread could ever relay `sock`: plain TCP (not TLS: its records are Node's to
 * decrypt) with a libuv handle it can stop reading. A session checks its two sockets once.
 */
export function relayable(sock: Socket): boolean {
  const h = handleOf(sock);
  return (sock as unknown as { encrypted?: boolean }).encrypted !== true && !!h && typeof h.readStop === 'function' && typeof h.readStart === 'function';
}

/** Open, nothing read and not emitted, nothing waiting to be written, a descriptor. */
export function idle(sock: Socket): boolean {
  return relayable(sock) && fdOf(sock) !== undefined && !sock.destroyed && sock.readable && !sock.readableEnded && sock.readableLength === 0 && sock.writableLength === 0;
}

/**
 * Stops libuv reading `sock` (the native thread reads it meanwhile). False when it cannot: a TLS
 * socket, no handle, bytes already read and not yet emitted.
 */
export function stopReading(sock: Socket): boolean {
  const h = handleOf(sock);
  if (!h || typeof h.readStop !== 'function' || !idle(sock)) return false;
  if (h.reading) {
    if (h.readStop() !== 0) return false;
    h.reading = false;
  }
  return true;
}

/** Lets libuv read `sock` again (as net.Socket's own tryReadStart does). */
export function startReading(sock: Socket): void {
  const h = handleOf(sock);
  if (!h || sock.destroyed || h.reading || typeof h.readStart !== 'function') return;
  h.reading = true;
  if (h.readStart() !== 0) sock.destroy(new Error('cannot read the socket again'));
}

/** Whether this process relays pass-through sessions natively, and why not. */
export type NativeRelayChoice = { relay: NativeRelay; reason?: undefined } | { relay: null; reason: string };

const FILE = 'clarus-relay.node';

/** The relay's module with where it was loaded from, or why it cannot be. */
function relayModule(): { mod: Module; path: string } | { reason: string } {
  if (process.platform !== 'linux') return { reason: `no native relay for ${process.platform}` };
  const path = nativeModulePath(FILE);
  if (!path) return { reason: `build/native/${FILE} not built (scripts/build-native.sh)` };
  try {
    return { mod: createRequire(import.meta.url)(path) as Module, path };
  } catch (e) {
    return { reason: `${path} does not load: ${(e as Error).message}` };
  }
}

export function loadNativeRelay(env: NodeJS.ProcessEnv = process.env): NativeRelayChoice {
  if (env.CLARUS_NATIVE_RELAY === '0') return { relay: null, reason: 'turned off (CLARUS_NATIVE_RELAY=0)' };
  const m = relayModule();
  if ('reason' in m) return { relay: null, reason: m.reason };
  try {
    return { relay: new NativeRelay(m.mod) };
  } catch (e) {
    return { relay: null, reason: `${m.path} does not load: ${(e as Error).message}` };
  }
}

/**
 * Gives the C heap's free pages back to the system (glibc malloc_trim, through the relay's module
 * whether or not the relay is used): after a large release, such as the in-proxy engine's worker
 * thread exiting, glibc keeps them otherwise. False without the module or when nothing was given.
 */
export function trimHeap(): boolean {
  const m = relayModule();
  return 'mod' in m && m.mod.trim();
}

/** This process's choice, made on first use. */
let choice: NativeRelayChoice | undefined;
export function nativeRelay(): NativeRelayChoice {
  choice ??= loadNativeRelay();
  return choice;
}

/** The relay this process uses for pass-through sessions (the proxy's start-up log). */
export function relayImplementation(): string {
  const c = nativeRelay();
  return c.relay ? `native (build/native/${FILE})` : `javascript (${c.reason})`;
}
