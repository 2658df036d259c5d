// Building ErrorResponse/NoticeResponse bytes the proxy sends on its own behalf, and the SQLSTATEs
// it uses (https://www.postgresql.org/docs/current/errcodes-appendix.html).
import { backendBytes } from './backend.ts';
import type { Fields } from './backend.ts';

export const SQLSTATE = {
  protocolViolation: '08P01',
  connectionFailure: '08006',
  unableToConnect: '08001',
  tooManyConnections: '53300',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  featureNotSupported: '0A000',
  adminShutdown: '57P01',
  cannotConnectNow: '57P03',
  idleSessionTimeout: '57P05',
  programLimitExceeded: '54000',
  internalError: 'XX000',
  queryCanceled: '57014',
} as const;

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
