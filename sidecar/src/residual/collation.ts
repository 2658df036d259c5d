// Whether the residual stage reproduces the backend's text semantics. Two things depend on the
// backend database's locale: the ORDER of text values (ORDER BY, <, >, BETWEEN, min/max, range
// predicates — LC_COLLATE) and CASE MAPPING / character classes (upper, lower, initcap, ILIKE, ~*,
// regex classes — LC_CTYPE). The engine reproduces the order only where it is code-point order,
// and case mapping only where it uses the same rules as the backend. Everything else is refused by
// the caller rather than answered differently.

/** The backend database's locale, as read with BACKEND_LOCALE_SQL. */
export interface BackendLocale {
  /** pg_database.datlocprovider: 'c' libc, 'i' ICU, 'b' builtin (PostgreSQL 17+). */
  provider: 'c' | 'i' | 'b';
  collate: string;
  ctype: string;
  /** ICU or builtin locale (daticulocale on 15/16, datlocale on 17+), null for libc. */
  locale: string | null;
  encoding: string;
  serverMajor: number;
}

/**
 * The query that reads BackendLocale (one row) for the connected database. Works on PostgreSQL 15
 * and later (the ICU locale column was renamed in 17).
 */
export function backendLocaleSql(serverMajor: number): string {
  const locale = serverMajor >= 17 ? 'datlocale' : 'daticulocale';
  return `SELECT datlocprovider::text AS provider, datcollate AS collate, datctype AS ctype, ${locale} AS locale,
    pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = current_database()`;
}

/** The locales an engine instance is initialised with (the one reproducing the backend's text semantics). */
export const ENGINE_LOCALES = ['c', 'builtin-c-utf8'] as const;
export type EngineLocale = typeof ENGINE_LOCALES[number];

export interface LocaleSupport {
  /** Text ordering (comparisons other than equality) is reproduced exactly. */
  ordering: boolean;
  /** Case mapping and character classes of non-ASCII text are reproduced exactly. */
  caseMapping: boolean;
  /** The locale the engine instance must be initialised with to get the answers above. */
  engine: EngineLocale;
  /** Why something is not reproduced (for the caller's refusal message); empty when both are. */
  reason: string;
}

/** What pg_database says of an engine instance initialised for a locale (provider, collate, locale). */
export function engineDatabaseLocale(engine: EngineLocale): string {
  return engine === 'c' ? 'c C ' : 'b C C.UTF-8';
}

/** initdb parameters of the engine instance for a locale. */
export function engineInitdbParams(engine: EngineLocale): string[] {
  return engine === 'c' ? ['--locale=C'] : ['--locale-provider=builtin', '--builtin-locale=C.UTF-8', '--lc-collate=C'];
}

type LocaleKind = 'c' | 'c-utf8' | 'other';

/** C and POSIX are special-cased by PostgreSQL (byte order, ASCII-only case mapping). */
export function localeKind(name: string | null): LocaleKind {
  if (name === null) return 'other';
  if (name === 'C' || name === 'POSIX') return 'c';
  return /^C\.(UTF-?8)$/i.test(name) ? 'c-utf8' : 'other';
}

function describe(b: BackendLocale): string {
  const provider = b.provider === 'c' ? 'libc' : b.provider === 'i' ? 'ICU' : 'builtin';
  return `${provider} locale collate=${b.collate} ctype=${b.ctype}${b.locale ? ` locale=${b.locale}` : ''}`;
}

function refuseAll(b: BackendLocale, why: string): LocaleSupport {
  return { ordering: false, caseMapping: false, engine: 'c', reason: `${describe(b)}: ${why}` };
}

function libc(b: BackendLocale): LocaleSupport {
  const collate = localeKind(b.collate);
  const ctype = localeKind(b.ctype);
  // Code-point order = byte order of UTF-8: "C" in the engine reproduces C and C.UTF-8 collations.
  const ordering = collate !== 'other';
  if (ctype === 'c') {
    return { ordering, caseMapping: true, engine: 'c', reason: ordering ? '' : `${describe(b)}: text order of LC_COLLATE ${b.collate} is not reproduced` };
  }
  // glibc's C.UTF-8 case tables differ from PostgreSQL's own Unicode tables (see docs/residual-engine.md).
  const why = [ordering ? '' : `text order of LC_COLLATE ${b.collate} is not reproduced`,
    `case mapping of LC_CTYPE ${b.ctype} (libc) is not reproduced for non-ASCII text`].filter((x) => x !== '').join('; ');
  return { ordering, caseMapping: false, engine: ctype === 'c-utf8' ? 'builtin-c-utf8' : 'c', reason: `${describe(b)}: ${why}` };
}

function builtin(b: BackendLocale): LocaleSupport {
  const kind = localeKind(b.locale);
  if (kind === 'c') return { ordering: true, caseMapping: true, engine: 'c', reason: '' };
  if (kind === 'other') return refuseAll(b, `builtin locale ${b.locale ?? '?'} is not reproduced`);
  // Same code as the engine (PostgreSQL 18); 17's Unicode tables are one Unicode version older.
  const same = b.serverMajor === 18;
  return { ordering: true, caseMapping: same, engine: 'builtin-c-utf8', reason: same ? '' : `${describe(b)}: case mapping of PostgreSQL ${b.serverMajor}'s builtin C.UTF-8 (older Unicode tables) is not reproduced` };
}

/** Decides what the residual stage reproduces for a backend database (or a column's collation). */
export function localeSupport(b: BackendLocale): LocaleSupport {
  if (b.encoding.toUpperCase() !== 'UTF8') return refuseAll(b, `server encoding ${b.encoding} is not UTF8`);
  switch (b.provider) {
    case 'c': return libc(b);
    case 'b': return builtin(b);
    case 'i': return refuseAll(b, 'ICU collation and case mapping depend on the backend\'s ICU version and are not reproduced');
  }
}
