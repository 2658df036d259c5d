// Building ErrorResponse/NoticeResponse bytes the proxy sends on its own behalf; the SQLSTATEs it
// uses are in sqlstate.ts (re-exported here).
import { backendBytes } from './backend.ts';
import type { Fields } from './backend.ts';

export { SQLSTATE } from './sqlstate.ts';

export interface ErrorSpec {
  code: string;
  message: string;
  severity?: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE';
  detail?: string;
  hint?: string;
}

export function errorFields(e: ErrorSpec): Fields {
  const severity = e.severity ?? 'ERROR';
  const f: Fields = { S: severity, V: severity, C: e.code, M: e.message };
  if (e.detail) f.D = e.detail;
  if (e.hint) f.H = e.hint;
  return f;
}

export function errorBytes(e: ErrorSpec): Buffer {
  return backendBytes({ type: 'ErrorResponse', fields: errorFields(e) });
}

export function noticeBytes(e: ErrorSpec): Buffer {
  return backendBytes({ type: 'NoticeResponse', fields: errorFields({ ...e, severity: e.severity ?? 'NOTICE' }) });
}
