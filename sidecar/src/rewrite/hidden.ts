// The one place that names the columns the proxy adds next to a protected column. A searchable
// encrypted column `c` has a hidden blind-index column `c__bidx` (bytea): equality on `c` is
// rewritten to equality on it, writes fill it, CREATE TABLE declares it and the catalog loader
// skips it. Anything else that needs the name asks this module.

const BLIND_INDEX_SUFFIX = '__bidx';

/** The hidden blind-index column of column `name`. */
export function blindIndexName(name: string): string {
  return `${name}${BLIND_INDEX_SUFFIX}`;
}

/** A (possibly qualified) column reference's names, pointing at the column's blind index instead. */
export function blindIndexPath(names: readonly string[]): string[] {
  const out = [...names];
  out[out.length - 1] = blindIndexName(String(out[out.length - 1]));
  return out;
}

/** The column a blind index belongs to (`c__bidx` → `c`). */
export function visibleName(hidden: string): string {
  return hidden.slice(0, -BLIND_INDEX_SUFFIX.length);
}

/** Whether a backend column is one the proxy added (never a policy column of its own). */
export function isHiddenName(name: string): boolean {
  return name.endsWith(BLIND_INDEX_SUFFIX);
}
