// Small value types shared by the codec, the session and the rewrite pipeline.

/** 0 = text, 1 = binary (PostgreSQL format codes). */
export type FormatCode = 0 | 1;

/** One column of a RowDescription. */
export interface FieldDescription {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: FormatCode;
}

/** A column value as it travels on the wire: raw bytes, or null for SQL NULL (length -1). */
export type WireValue = Uint8Array | null;

/**
 * Format of column/parameter i given a list of format codes as Bind sends them: an empty list
 * means all text, one code applies to all, otherwise one code per column.
 */
export function formatAt(formats: readonly number[], i: number): FormatCode {
  const f = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i];
  return f === 1 ? 1 : 0;
}
