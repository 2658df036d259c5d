// Session settings the proxy's lexing depends on, as the backend reports them (ParameterStatus).
// Pinned at connection start (access/pinned.ts); a backend that reports another value mid-session
// (a SET inside a function, a server-side change) would make the proxy and the backend split
// statements differently, so the session ends (fail closed).

/**
 * Client encodings whose bytes the proxy reads as the backend will: UTF-8, and SQL_ASCII
 * (PostgreSQL then checks the bytes against the UTF-8 database encoding unconverted). Encodings
 * such as SJIS, BIG5 or GBK put 0x5C (backslash) and 0x27 (quote) inside multibyte characters and
 * would make the proxy and the backend split a literal differently.
 */
export const SAFE_ENCODINGS = new Set(['utf8', 'utf-8', 'unicode', 'sql_ascii', 'sqlascii']);

/**
 * Whether an encoding name is one of SAFE_ENCODINGS as PostgreSQL reads names (clean_encoding_name:
 * case and every character but letters and digits ignored): asyncpg sends `'utf-8'`, quotes included.
 */
export function safeEncoding(name: string): boolean {
  const clean = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return clean === 'utf8' || clean === 'unicode' || clean === 'sqlascii';
}


/**
 * A ParameterStatus the backend reports mid-session that would make the analysis lex or resolve
 * differently (a SET inside a function, a server-side change…): the session must end.
 */
export function unsafeParameterStatus(name: string, value: string): string | null {
  const n = name.toLowerCase();
  if (n === 'client_encoding' && !safeEncoding(value)) return `the backend switched client_encoding to ${value}`;
  if (n === 'standard_conforming_strings' && value.toLowerCase() !== 'on') return 'the backend switched standard_conforming_strings off';
  return null;
}
