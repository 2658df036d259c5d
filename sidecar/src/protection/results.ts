// Result transformer: restores what the client sees for columns that hold ciphertext, according
// to the user's view: plaintext (decrypted, declared type restored in RowDescription and in the
// value encoding), masked (decrypted then masked, shown as text), protected (the stored
// ciphertext as base64 text, never decrypted). NULL stays NULL.
import type { View } from '../../../crds/src/types.ts';
import type { FieldDescription, ResultTransformer, WireValue } from '../session/pipeline.ts';
import { formatAt } from '../protocol/types.ts';
import type { ColumnCipher } from './encryption/column.ts';
import { OID, textToBinary } from './encryption/canonical.ts';
import { maskForView } from './anonymize-write.ts';
import { byteaFromWire } from './wire.ts';

export interface ProtectedOutput {
  index: number;
  cipher: ColumnCipher;
  typeOid: number;
  view: View;
}

const SIZES: Record<number, number> = { [OID.bool]: 1, [OID.int2]: 2, [OID.int4]: 4, [OID.int8]: 8, [OID.float4]: 4, [OID.float8]: 8, [OID.date]: 4, [OID.uuid]: 16 };

function clientType(o: ProtectedOutput): number {
  return o.view === 'plaintext' ? o.typeOid : OID.text;
}

/** Plaintext for the client, as text, per view. */
export function presentText(o: ProtectedOutput, stored: Buffer): string {
  if (o.view === 'protected') return stored.toString('base64');
  const text = o.cipher.decrypt(stored);
  return o.view === 'masked' ? maskForView(text) : text;
}

export function resultTransformer(outputs: ProtectedOutput[]): ResultTransformer | undefined {
  if (outputs.length === 0) return undefined;
  return {
    fields(fields: readonly FieldDescription[]): FieldDescription[] {
      const out = fields.map((f) => ({ ...f }));
      for (const o of outputs) {
        const f = out[o.index];
        if (!f) continue;
        f.typeOid = clientType(o);
        f.typeSize = SIZES[f.typeOid] ?? -1;
        f.typeModifier = -1;
      }
      return out;
    },
    row(values: WireValue[], formats: readonly number[]): WireValue[] {
      for (const o of outputs) {
        const v = values[o.index];
        if (v === null || v === undefined) continue;
        const fmt = formatAt(formats, o.index);
        if (fmt === 0 && o.view === 'plaintext') {
          // Text format, plaintext view: the decrypted UTF-8 bytes are the text value itself (they
          // were encoded from a string when sealed), so skip decoding and re-encoding them.
          values[o.index] = o.cipher.decryptBytes(byteaFromWire(v, fmt));
          continue;
        }
        const text = presentText(o, byteaFromWire(v, fmt));
        values[o.index] = fmt === 1 ? textToBinary(clientType(o), text) : Buffer.from(text, 'utf8');
      }
      return values;
    },
  };
}
