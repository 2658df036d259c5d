// Applying pipeline transformers to decoded backend messages and COPY payloads. Pure helpers.
import { backendBytes, encodeBackend } from '../protocol/backend.ts';
import type { BackendMessage } from '../protocol/backend.ts';
import { Writer } from '../protocol/codec.ts';
import { HEADER_BYTES } from '../protocol/tags.ts';
import type { CopyTransformer, ResultTransformer } from './pipeline.ts';

export function transformRowDescription(tr: ResultTransformer, m: BackendMessage): Buffer {
  if (m.type !== 'RowDescription') throw new Error('expected RowDescription');
  return backendBytes({ type: 'RowDescription', fields: tr.fields(m.fields) });
}

export function transformRow(tr: ResultTransformer, m: BackendMessage, formats: readonly number[]): Buffer {
  if (m.type !== 'DataRow') throw new Error('expected DataRow');
  return backendBytes({ type: 'DataRow', values: tr.row(m.values, formats) });
}

/** CopyData has the same tag and body in both directions: one encoder serves COPY FROM and COPY TO. */
function copyData(b: Uint8Array): Buffer {
  return encodeBackend({ type: 'CopyData', data: b }, new Writer(b.length + HEADER_BYTES)).finish();
}

export function applyCopy(hook: CopyTransformer, payload: Uint8Array): Buffer[] {
  return hook.data(payload).map(copyData);
}

export function copyEnd(hook: CopyTransformer): Buffer[] {
  return (hook.finish?.() ?? []).map(copyData);
}
