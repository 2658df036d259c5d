// The one table of PostgreSQL protocol 3.0 type bytes: message tags in each direction, the
// authentication request codes inside an 'R' message, and the single bytes that answer an
// SSLRequest (https://www.postgresql.org/docs/current/protocol-message-formats.html). Every reader
// and writer of wire bytes names a tag through this table; no other file spells a tag letter.

const b = (c: string): number => c.charCodeAt(0);

/** Client → server message tags (after the untagged startup packets). */
export const FrontendTag = {
  Query: b('Q'),
  Parse: b('P'),
  Bind: b('B'),
  Describe: b('D'),
  Execute: b('E'),
  Close: b('C'),
  Sync: b('S'),
  Flush: b('H'),
  Terminate: b('X'),
  CopyData: b('d'),
  CopyDone: b('c'),
  CopyFail: b('f'),
  FunctionCall: b('F'),
  /** PasswordMessage, SASLInitialResponse and SASLResponse share 'p': only the auth phase knows which. */
  AuthResponse: b('p'),
} as const;

/** Server → client message tags. */
export const BackendTag = {
  Authentication: b('R'),
  BackendKeyData: b('K'),
  ParameterStatus: b('S'),
  ReadyForQuery: b('Z'),
  RowDescription: b('T'),
  DataRow: b('D'),
  CommandComplete: b('C'),
  ErrorResponse: b('E'),
  NoticeResponse: b('N'),
  ParameterDescription: b('t'),
  NotificationResponse: b('A'),
  CopyInResponse: b('G'),
  CopyOutResponse: b('H'),
  CopyBothResponse: b('W'),
  CopyData: b('d'),
  CopyDone: b('c'),
  FunctionCallResponse: b('V'),
  NegotiateProtocolVersion: b('v'),
  ParseComplete: b('1'),
  BindComplete: b('2'),
  CloseComplete: b('3'),
  NoData: b('n'),
  EmptyQueryResponse: b('I'),
  PortalSuspended: b('s'),
} as const;

/** The int32 that follows the 'R' tag: which authentication step the server asks for. */
export const AuthCode = {
  Ok: 0,
  CleartextPassword: 3,
  MD5Password: 5,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** The one byte a server answers an SSLRequest (or GSSENCRequest) with. */
export const SslAnswer = { accept: b('S'), refuse: b('N') } as const;

/** Describe and Close name their target with one byte. */
export const TargetByte = { S: b('S'), P: b('P') } as const;

/** Header of a tagged message: the tag byte and the int32 length (which counts itself, not the tag). */
export const HEADER_BYTES = 5;

/** ReadyForQuery's one body byte: the backend's transaction status. */
export const TxStatusByte = { idle: b('I'), inBlock: b('T'), failed: b('E') } as const;
