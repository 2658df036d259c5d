// Sizes of the stored forms that the rewriter needs without the keys (column.ts computes the forms).

/** Blind indexes are HMAC-SHA256 truncated to 16 bytes: 128 bits keep accidental collisions out of
 *  reach (birthday bound 2^64 values) while storing half the bytes; equality leaks the same either way. */
export const BLIND_INDEX_BYTES = 16;
