// Parameters in binary format for the in-proxy stage (issue 10): the engine takes parameter values
// as text, so a binary value is read by its declared type the way PostgreSQL's receive function
// reads it (protection/encryption/canonical.ts binaryToText) and printed as that type's text.
import { binaryToText, ValueFormatError } from '../protection/encryption/canonical.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';
import { StatementError } from './pipeline.ts';

/** Exact sizes of the fixed-width types binaryToText reads (PostgreSQL refuses any other length). */
const SIZES: ReadonlyMap<number, number> = new Map([[16, 1], [21, 2], [23, 4], [20, 8], [700, 4], [701, 8], [1082, 4], [2950, 16]]);

/**
 * The text of binary parameter `n` of type `oid`; null when the type is not declared or not one
 * the proxy reads; a 22P03 StatementError (PostgreSQL's "incorrect binary data format") when the
 * bytes do not fit it.
 */
export function binaryParamText(oid: number, b: Buffer, n: number): string | null | StatementError {
  const size = SIZES.get(oid);
  if (size !== undefined && b.length !== size) return new StatementError(SQLSTATE.invalidBinaryRepresentation, `incorrect binary data format in bind parameter ${n}`);
  try {
    return binaryToText(oid, b);
  } catch (e) {
    if (e instanceof ValueFormatError) return null;
    throw e;
  }
}
