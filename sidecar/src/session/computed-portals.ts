// Portals of two-stage statements whose result the proxy holds (issue 10): the in-proxy stage
// computes the whole result at the portal's first Execute, and an Execute with a row limit
// (JDBC setFetchSize, node-postgres cursors) is served from it in chunks, with PortalSuspended
// while rows remain, as PostgreSQL serves a portal. A portal lives until it is bound again, closed,
// or its transaction ends (the session forgets them all at a ReadyForQuery outside a block).
import type { WireValue } from './pipeline.ts';

/** One Execute's share of a held result: its rows, and whether the portal is suspended after them. */
export interface Chunk { rows: WireValue[][]; suspended: boolean }

export class ComputedPortals {
  /** Rows not yet sent, per portal name; undefined rows: the first Execute's stage has not answered yet. */
  private readonly held = new Map<string, { rows: WireValue[][] }>();

  /** The portal's first Execute: its stage runs (a later Execute of it, even pipelined, is served from it). */
  begin(portal: string): void { this.held.set(portal, { rows: [] }); }

  has(portal: string): boolean { return this.held.has(portal); }

  /** The stage's whole result (in the client's formats). */
  store(portal: string, rows: WireValue[][]): void { this.held.set(portal, { rows }); }

  /** The next `max` rows (0: all); suspended when `max` rows were taken, as PostgreSQL suspends even when none remain. */
  take(portal: string, max: number): Chunk {
    const h = this.held.get(portal) ?? { rows: [] };
    if (max <= 0 || h.rows.length < max) {
      const rows = h.rows;
      h.rows = [];
      return { rows, suspended: false };
    }
    const rows = h.rows.slice(0, max);
    h.rows = h.rows.slice(max);
    return { rows, suspended: true };
  }

  forget(portal: string): void { this.held.delete(portal); }

  clear(): void { this.held.clear(); }
}
