// The residual stage's contract: candidate rows the proxy has already fetched and decrypted, given
// per relation as named columns with PostgreSQL type OIDs and values in PostgreSQL text format (or
// null), and one SELECT over those relations. The answer is what PostgreSQL answers: result fields
// with their type OIDs and rows in text format.

/** A column of a candidate relation. `typeOid` must be one of SUPPORTED_TYPES. */
export interface ResidualColumn {
  name: string;
  typeOid: number;
}

/** One candidate relation: the residual SQL names it by `name`. Rows are consumed once, in order. */
export interface ResidualRelation {
  name: string;
  columns: readonly ResidualColumn[];
  rows: Iterable<ReadonlyArray<string | null>>;
}

/** Per-call bounds, from the proxy's configuration. Past one, the call fails with 54000. */
export interface ResidualLimits {
  /** Candidate rows loaded, summed over all relations. */
  maxRows: number;
  /** Bytes of candidate values loaded (UTF-8 text form; NULL counts 0), summed over all relations. */
  maxBytes: number;
  /** Result rows returned (default: maxRows). */
  maxResultRows?: number;
}

/**
 * The client session's settings that change how values are read and printed. The candidate values
 * are read under them and the result printed under them, as the backend would have done.
 */
export interface ResidualSettings {
  timeZone?: string;
  dateStyle?: string;
  intervalStyle?: string;
  extraFloatDigits?: number;
  byteaOutput?: 'hex' | 'escape';
}

export interface ResidualCall {
  relations: readonly ResidualRelation[];
  /** Exactly one SELECT (or VALUES/set operation) over the relations; `$n` are `params`. */
  sql: string;
  /** Values of `$1…$n` in text form (types inferred by the engine from their use). */
  params?: ReadonlyArray<string | null>;
  limits: ResidualLimits;
  settings?: ResidualSettings;
}

export interface ResidualField {
  name: string;
  typeOid: number;
  typmod: number;
}

export interface ResidualResult {
  fields: ResidualField[];
  rows: Array<Array<string | null>>;
  /** What was loaded, for metrics ("rows fetched vs returned"). */
  loadedRows: number;
  loadedBytes: number;
}

/**
 * Column types the residual stage loads, by OID, with the SQL name used for the candidate table.
 * Types whose text form depends on server locale settings (money: lc_monetary) are left out.
 */
export const SUPPORTED_TYPES: ReadonlyMap<number, string> = new Map([
  [16, 'bool'], [17, 'bytea'], [18, '"char"'], [19, 'name'], [20, 'int8'], [21, 'int2'], [23, 'int4'],
  [25, 'text'], [26, 'oid'], [114, 'json'], [700, 'float4'], [701, 'float8'], [869, 'inet'], [650, 'cidr'],
  [829, 'macaddr'], [1042, 'bpchar'], [1043, 'varchar'], [1082, 'date'], [1083, 'time'],
  [1114, 'timestamp'], [1184, 'timestamptz'], [1186, 'interval'], [1266, 'timetz'], [1560, 'bit'],
  [1562, 'varbit'], [1700, 'numeric'], [2950, 'uuid'], [3802, 'jsonb'], [27, 'tid'],
  [1000, 'bool[]'], [1001, 'bytea[]'], [1005, 'int2[]'], [1007, 'int4[]'], [1016, 'int8[]'], [1009, 'text[]'],
  [1015, 'varchar[]'], [1021, 'float4[]'], [1022, 'float8[]'], [1231, 'numeric[]'], [1182, 'date[]'],
  [1115, 'timestamp[]'], [1185, 'timestamptz[]'], [2951, 'uuid[]'],
]);

/** Type OIDs of the text-like types whose comparison and case mapping follow a collation. */
export const COLLATABLE_TYPES: ReadonlySet<number> = new Set([25, 1042, 1043, 19, 1009, 1015]);
