// Which COPY, if any, a client's CopyData/CopyDone/CopyFail belongs to. The backend consumes
// client messages in the order they were sent, so copy data belongs to the COPY FROM STDIN started
// by the last Query/Execute the client sent before it, unless the client has already ended that
// COPY (CopyDone/CopyFail) or sent another kind of message since (the backend then leaves COPY, or
// was never in it, and ignores the data). One CopySlot per Query/Execute the session forwards; the
// client side routes data by it, the backend side fills in what the backend did. Pure state.
import type { CopyTransformer } from './pipeline.ts';

/** What to do with the client's data for one COPY: transform it, forward it raw, or drop it. */
export type CopyRoute = CopyTransformer | 'raw' | 'drop';

export class CopySlot {
  /**
   * What each COPY FROM STDIN the backend started for this message does with data, in order:
   * the hooks of the statement, 'raw' (a COPY without hooks), 'drop' (the proxy failed it at once).
   */
  readonly started: CopyRoute[] = [];
  /** The backend has finished this message: no further COPY will start for it. */
  done = false;
  /** COPY streams the client has ended (CopyDone/CopyFail) for this message. */
  ended = 0;
  /** The current COPY failed in the proxy: its remaining data is dropped until the client ends it. */
  failed = false;
  /** The error to show instead of the backend's when the proxy failed this message's COPY. */
  refusal: Buffer | undefined = undefined;
  /** `begin` was called for COPY number `begun` (-1: none yet). */
  begun = -1;
  /** Wakes a client message that waits for the backend to say which COPY it is in. */
  wake: (() => void) | null = null;
  /**
   * The hooks when the message is exactly one COPY FROM STDIN with hooks: its data is routed
   * without waiting for the backend. Undefined: the backend's answer decides.
   */
  readonly certain: CopyTransformer | undefined;

  constructor(certain: CopyTransformer | undefined) {
    this.certain = certain;
  }

  /** The route for data of the COPY the client is feeding now, or 'wait' until the backend tells. */
  route(): CopyRoute | 'wait' {
    const k = this.ended;
    if (k < this.started.length) return this.started[k] as CopyRoute;
    if (this.done) return 'drop';
    if (this.certain) return k === 0 ? this.certain : 'drop';
    return 'wait';
  }

  /** The backend started a COPY FROM STDIN for this message. */
  backendStarted(route: CopyRoute): void {
    this.started.push(this.certain && this.started.length === 0 && route !== 'drop' ? this.certain : route);
    this.notify();
  }

  backendDone(): void {
    this.done = true;
    this.notify();
  }

  /** The client ended the COPY it was feeding. */
  clientEnded(): void {
    this.ended++;
    this.failed = false;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/** A slot for messages after which no COPY data is accepted (refused or skipped statements). */
export function closedSlot(): CopySlot {
  const s = new CopySlot(undefined);
  s.done = true;
  return s;
}
