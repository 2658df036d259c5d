// The masked view of an encrypted column: what a reader whose AccessGrant has `view: masked` sees
// of a decrypted value, by the column's `encrypt.maskedView` function (in the spirit of PostgreSQL
// Anonymizer's masking functions), or `****` and the last 4 characters by default. Pure; the keyed
// hash (ColumnCipher.maskHash: a key of its own, never the blind index's) is passed in.
import type { MaskedView } from '@clarus/crds/types.ts';
import { maskForView } from './anonymize-write.ts';

/** Every character (code point) of the value masked. */
function all(text: string, char: string): string {
  return char.repeat(Array.from(text).length);
}

function partial(text: string, mask: MaskedView, char: string): string {
  const first = mask.keepFirst ?? 0;
  const last = mask.keepLast ?? 0;
  const cps = Array.from(text);
  // A value no longer than what would be kept is masked whole: never shown as it is.
  if (cps.length <= first + last) return all(text, char);
  return cps.slice(0, first).join('') + char.repeat(cps.length - first - last) + cps.slice(cps.length - last).join('');
}

function email(text: string, char: string): string {
  const at = text.lastIndexOf('@');
  if (at < 1) return all(text, char);
  return `${Array.from(text)[0] ?? ''}${char.repeat(3)}${text.slice(at)}`;
}

const DATE = /^(\d{4,})-(\d{2})-(\d{2})/;

function truncate(text: string, unit: 'month' | 'year'): string {
  const m = DATE.exec(text);
  if (!m) return all(text, '*');
  return unit === 'year' ? `${m[1]}-01-01` : `${m[1]}-${m[2]}-01`;
}

function maskChar(mask: MaskedView): string {
  return mask.char ?? '*';
}

/** The masked view of `text` (null: shown as NULL). `hash` is the column's keyed hash of a value. */
export function maskedText(mask: MaskedView | undefined, text: string, hash: (text: string) => Uint8Array): string | null {
  if (!mask) return maskForView(text);
  const char = maskChar(mask);
  switch (mask.function) {
    case 'partial': return partial(text, mask, char);
    case 'email': return email(text, char);
    case 'hash': return Buffer.from(hash(text)).toString('hex').slice(0, 16);
    case 'truncate': return truncate(text, mask.unit ?? 'month');
    case 'fixed': return mask.value ?? '';
    case 'null': return null;
  }
}
