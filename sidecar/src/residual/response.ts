// The engine's answer to one call batch (plan.ts) → result rows, or the first error with its phase.
// ReadyForQuery messages delimit the phases: the first `loadPhases` close the loading statements,
// the next one closes the residual query, the last one the ROLLBACK.
import { decodeBackend, type BackendMessage } from '../protocol/backend.ts';
import { frameAt } from '../protocol/framer.ts';
import { ResidualLimitError, ResidualQueryError, ResidualUnsupportedError } from './errors.ts';
import type { ResidualField } from './types.ts';

export type CallOutcome =
  | { ok: true; fields: ResidualField[]; rows: Array<Array<string | null>> }
  | { ok: false; error: ResidualQueryError | ResidualLimitError | ResidualUnsupportedError };

// ignoreBOM: a value that starts with U+FEFF keeps it (the default decoder would drop it).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Splits a buffer of complete backend messages. A malformed one is an internal error. */
export function* backendMessages(bytes: Uint8Array): Generator<BackendMessage> {
  for (let rest = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); rest.length > 0;) {
    // The answer holds complete messages: one longer than what is left has a malformed length.
    const f = frameAt(rest, { maxMessageBytes: rest.length });
    if (f.kind === 'error') throw new Error('residual: malformed engine response');
    if (f.kind === 'incomplete') throw new Error('residual: truncated engine response');
    const d = decodeBackend(f.tag, rest, f.start, f.end);
    if (!d.ok) throw new Error(`residual: undecodable engine response: ${d.error.message}`);
    yield d.msg;
    rest = rest.subarray(f.end);
  }
}

function textRow(values: Array<Uint8Array | null>): Array<string | null> {
  return values.map((v) => (v === null ? null : utf8.decode(v)));
}

interface Collector {
  phase: number;
  fields: ResidualField[];
  rows: Array<Array<string | null>>;
  error: ResidualQueryError | ResidualLimitError | ResidualUnsupportedError | null;
}

/** The residual statement must be a query; anything else ran in a rolled-back transaction and is refused. */
function checkTag(c: Collector, tag: string): void {
  if (!tag.startsWith('SELECT ')) c.error ??= new ResidualUnsupportedError(`clarus: the in-proxy stage only runs queries, not ${tag.split(' ')[0] ?? tag}`);
}

/** Messages of the residual query's own phase: its description, rows, end and suspension. */
function collectQuery(c: Collector, m: BackendMessage, maxResultRows: number): void {
  switch (m.type) {
    case 'RowDescription': c.fields = m.fields.map((f) => ({ name: f.name, typeOid: f.typeOid, typmod: f.typeModifier })); return;
    case 'DataRow': if (c.rows.length < maxResultRows) c.rows.push(textRow(m.values)); return;
    case 'CommandComplete': checkTag(c, m.tag); return;
    case 'PortalSuspended': c.error ??= new ResidualLimitError('resultRows', maxResultRows); return;
    default: return;
  }
}

function collect(c: Collector, m: BackendMessage, loadPhases: number, maxResultRows: number): void {
  if (m.type === 'ReadyForQuery') c.phase += 1;
  else if (m.type === 'ErrorResponse') c.error ??= new ResidualQueryError(m.fields, c.phase < loadPhases ? 'load' : 'query');
  else if (c.phase === loadPhases) collectQuery(c, m, maxResultRows);
}

export function readOutcome(bytes: Uint8Array, loadPhases: number, maxResultRows: number): CallOutcome {
  const c: Collector = { phase: 0, fields: [], rows: [], error: null };
  for (const m of backendMessages(bytes)) collect(c, m, loadPhases, maxResultRows);
  if (c.error) return { ok: false, error: c.error };
  if (c.phase !== loadPhases + 2) throw new Error(`residual: engine answered ${c.phase} of ${loadPhases + 2} phases`);
  return { ok: true, fields: c.fields, rows: c.rows };
}
