// The engine's answer to one call batch (plan.ts) → result rows, or the first error with its phase.
// ReadyForQuery messages delimit the phases: the first `loadPhases` close the loading statements,
// the next one closes the residual query, the last one the ROLLBACK.
import { decodeBackend, type BackendMessage } from '../protocol/backend.ts';
import { ResidualLimitError, ResidualQueryError, ResidualUnsupportedError } from './errors.ts';
import type { ResidualField } from './types.ts';

export type CallOutcome =
  | { ok: true; fields: ResidualField[]; rows: Array<Array<string | null>> }
  | { ok: false; error: ResidualQueryError | ResidualLimitError | ResidualUnsupportedError };

// ignoreBOM: a value that starts with U+FEFF keeps it (the default decoder would drop it).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Splits a buffer of complete backend messages. A malformed one is an internal error. */
export function* backendMessages(bytes: Uint8Array): Generator<BackendMessage> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos < bytes.length) {
    if (pos + 5 > bytes.length) throw new Error('residual: truncated engine response');
    const len = view.getInt32(pos + 1);
    const end = pos + 1 + len;
    if (len < 4 || end > bytes.length) throw new Error('residual: malformed engine response');
    const d = decodeBackend(bytes[pos] as number, bytes, pos + 5, end);
    if (!d.ok) throw new Error(`residual: undecodable engine response: ${d.error.message}`);
    yield d.msg;
    pos = end;
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
