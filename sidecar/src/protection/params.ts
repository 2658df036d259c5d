// Bind-time parameter transformer: encrypts parameters compared to or written into protected
// columns, adds the blind-index parameters the rewrite introduced, anonymizes parameters of
// anonymized columns. Text and binary parameter formats are both accepted (decoded by the
// declared type of the column); NULL stays NULL.
import type { ParamTransformer, WireValue } from '../session/pipeline.ts';
import { formatAt } from '../protocol/types.ts';
import type { CipherFor, ParamRole, ProtectedRef } from '../rewrite/context.ts';
import type { ColumnCipher } from './encryption/column.ts';
import { anonymizeText } from './anonymize-write.ts';
import { binaryToText, canonicalText, textToBinary } from './encryption/canonical.ts';
import { byteaArrayToWire, byteaToWire } from './wire.ts';

const BYTEA = 17;
const BYTEA_ARRAY = 1001;

export function paramTypeFor(role: ParamRole | undefined, client: number): number {
  if (!role || role.kind === 'anonymize') return client;
  return role.kind === 'equalityAny' || role.kind === 'blindIndexAny' ? BYTEA_ARRAY : BYTEA;
}

export function clientTypeFor(role: ParamRole | undefined): number {
  if (!role) return 0;
  return role.kind === 'anonymize' ? role.column.typeOid : role.ref.column.typeOid;
}

function declaredOid(role: ParamRole): number {
  return role.kind === 'anonymize' ? role.column.typeOid : role.ref.column.typeOid;
}

function decode(role: ParamRole, v: Uint8Array, binary: boolean): string {
  const oid = declaredOid(role);
  const text = binary ? binaryToText(oid, Buffer.from(v)) : Buffer.from(v).toString('utf8');
  return canonicalText(oid, text);
}

function transformOne(role: ParamRole, v: Uint8Array, inFmt: 0 | 1, outFmt: 0 | 1, cipher: CipherFor): WireValue {
  const text = decode(role, v, inFmt === 1);
  switch (role.kind) {
    case 'encrypt': return byteaToWire(cipher(role.ref).encrypt(text), outFmt);
    case 'encryptIndexed': {
      const c = cipher(role.ref);
      return byteaToWire(Buffer.concat([c.blindIndex(text), c.encrypt(text)]), outFmt);
    }
    case 'equalityAny': return byteaArrayToWire(cipher(role.ref).equalityForms(text), outFmt);
    case 'blindIndexAny': return byteaArrayToWire(cipher(role.ref).blindIndexes(text), outFmt);
    case 'anonymize': {
      const out = anonymizeText(role.column.protection.kind === 'anonymize' ? role.column.protection.spec : {}, text, role.column.typeOid);
      if (out === null || out === undefined) return null;
      return outFmt === 1 ? textToBinary(role.column.typeOid, out) : Buffer.from(out, 'utf8');
    }
  }
}

/** `count` is the number of parameters of the statement; each keeps the client's format code. */
export function paramTransformer(roles: Map<number, ParamRole>, count: number, cipher: CipherFor): ParamTransformer {
  // The transformer lives as long as the prepared statement: each parameter's column cipher is
  // looked up on its first use and kept, not resolved again at every Bind.
  const ciphers = new Map<ProtectedRef, ColumnCipher>();
  const cached: CipherFor = (ref) => {
    let c = ciphers.get(ref);
    if (!c) {
      c = cipher(ref);
      ciphers.set(ref, c);
    }
    return c;
  };
  return (values, formats) => {
    const out: WireValue[] = [];
    for (let n = 1; n <= count; n++) {
      const role = roles.get(n);
      const v = values[n - 1] ?? null;
      if (!role || v === null) {
        out.push(v);
        continue;
      }
      const f = formatAt(formats, n - 1);
      out.push(transformOne(role, v, f, f, cached));
    }
    return out;
  };
}
