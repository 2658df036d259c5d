// The SQLSTATEs the proxy answers with, by PostgreSQL's condition names
// (https://www.postgresql.org/docs/current/errcodes-appendix.html). This is the only production file
// that spells a SQLSTATE; scripts/sqlstate.test.ts fails when another one does.
export const SQLSTATE = {
  unableToConnect: '08001',
  connectionFailure: '08006',
  protocolViolation: '08P01',
  featureNotSupported: '0A000',
  cardinalityViolation: '21000',
  nullValueNotAllowed: '22004',
  characterNotInRepertoire: '22021',
  invalidParameterValue: '22023',
  invalidTextRepresentation: '22P02',
  invalidBinaryRepresentation: '22P03',
  badCopyFileFormat: '22P04',
  idleInTransactionSessionTimeout: '25P03',
  invalidSqlStatementName: '26000',
  invalidAuthorization: '28000',
  invalidPassword: '28P01',
  invalidCursorName: '34000',
  invalidCatalogName: '3D000',
  insufficientPrivilege: '42501',
  syntaxError: '42601',
  undefinedTable: '42P01',
  duplicatePreparedStatement: '42P05',
  tooManyConnections: '53300',
  programLimitExceeded: '54000',
  statementTooComplex: '54001',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  cannotConnectNow: '57P03',
  idleSessionTimeout: '57P05',
  internalError: 'XX000',
  dataCorrupted: 'XX001',
} as const;

export type SqlState = typeof SQLSTATE[keyof typeof SQLSTATE];
