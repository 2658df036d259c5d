// Result directives (issue 9, the decrypt half of the plan's placeholders): for every column a
// statement returns, what the executor does to its values on the way back, computed here without
// keys from the analysis' outputs (scope.ts OutCol) and consumed by the executor
// (access/outputs.ts → protection/results.ts) as the only description of the result. A directive
// says what may be reversed; the user's grant (access/grants.ts) decides whether this user gets it
// (plaintext, masked, protected). The executor refuses a directive it does not know.
import type { AnonRef } from './expr.ts';
import type { ProtectedRef } from './context.ts';
import { sourcesOf } from './context.ts';
import type { OutCol } from './scope.ts';
import { OID } from '../protection/encryption/canonical.ts';

/** What a passed column carries: nothing protected, a NULL constant, an anonymized value as stored, a blind index. */
export type PassedValue = 'plain' | 'null' | 'anonymized' | 'blindIndex';

/** What a column would get if the executor could place it (see `unplaced`). */
export type Reversal =
  /** The stored ciphertext of `ref` (or of one of `ref.also`: set-operation arms, JOIN … USING sides), decrypted as `ref`. */
  | { kind: 'decrypt'; name: string; ref: ProtectedRef }
  /** A reversible pseudonym, exactly as stored in `ref`: decrypted with the pseudonym key `keyName`. */
  | { kind: 'reversePseudonym'; name: string; ref: AnonRef; keyName: string };

export type ResultDirective =
  | { kind: 'pass'; name: string; carries: PassedValue }
  | Reversal
  /** An unexpanded `*` of a relation unknown to the policy: how many columns it returns is unknown. */
  | { kind: 'unknownWidth'; name: string }
  /** A column to reverse after an unknown-width `*`: its position is unknown (the executor refuses it when it would reverse it). */
  | { kind: 'unplaced'; name: string; of: Reversal };

function reversal(o: OutCol): Reversal | undefined {
  if (o.prov) return { kind: 'decrypt', name: o.name, ref: o.prov };
  const a = o.anon?.exact ? o.anon.ref : undefined;
  const p = a?.column.protection.spec.pseudonymize;
  return a && p?.reversible ? { kind: 'reversePseudonym', name: o.name, ref: a, keyName: p.keyName ?? 'default' } : undefined;
}

function passed(o: OutCol): PassedValue {
  if (o.hidden) return 'blindIndex';
  if (o.nullConst) return 'null';
  return o.anon ? 'anonymized' : 'plain';
}

/** The directive of each output, by position. Positions after an unknown-width `*` are unknown. */
export function resultDirectives(outs: readonly OutCol[]): ResultDirective[] {
  let unknownBefore = false;
  return outs.map((o): ResultDirective => {
    if (o.star) {
      unknownBefore = true;
      return { kind: 'unknownWidth', name: o.name };
    }
    const r = reversal(o);
    if (!r) return { kind: 'pass', name: o.name, carries: passed(o) };
    return unknownBefore ? { kind: 'unplaced', name: o.name, of: r } : r;
  });
}

const TYPE_NAMES = new Map<number, string>(Object.entries(OID).map(([name, oid]) => [oid, name]));

/** The client-facing type's name (`oid n` for a type the proxy does not name). */
export function typeName(oid: number): string {
  return TYPE_NAMES.get(oid) ?? `oid ${oid}`;
}

function described(r: Reversal): string {
  if (r.kind === 'reversePseudonym') return `reverse pseudonym ${r.ref.table.table}.${r.ref.column.name} (key ${r.keyName}) → ${typeName(r.ref.column.typeOid)}`;
  const { ref } = r;
  const arms = sourcesOf(ref).slice(1).map((s) => `${s.table.table}.${s.column.name}`);
  const or = arms.length > 0 ? `, or ${arms.join(', ')}` : '';
  return `decrypt ${ref.table.table}.${ref.column.name} (${ref.column.protection.mode}${or}) → ${typeName(ref.column.typeOid)}`;
}

const CARRIES: Record<PassedValue, string> = { plain: '', null: ' (NULL constant)', anonymized: ' (anonymized, as stored)', blindIndex: ' (blind index)' };

/** How `policy explain --sql` shows a directive: ``column 2 `name`: decrypt patient.name (randomized) → text``. */
export function describeDirective(d: ResultDirective, index: number): string {
  const head = `column ${index + 1} \`${d.name}\``;
  switch (d.kind) {
    case 'pass': return `${head}: pass${CARRIES[d.carries]}`;
    case 'decrypt': case 'reversePseudonym': return `${head}: ${described(d)}`;
    case 'unknownWidth': return `${head}: * of a relation unknown to the policy (unknown number of columns, passed)`;
    case 'unplaced': return `${head}: refused at execution (${described(d.of)}, after a * of unknown width)`;
  }
}
