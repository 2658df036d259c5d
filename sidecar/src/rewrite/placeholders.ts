// Placeholders (issue 9, the rewriter's part 3): the rewriter holds no keys. Where a rule protects
// a constant (`ctx.cipher(ref).encrypt(canon)`, a keyed or random anonymization), it gets a
// *marker* instead of ciphertext, and the plan lists what each marker stands for ("encrypt this
// canonical text for column X", "blind index of it", "form i of n of its equality forms").
// The executor fills the markers (protection/fill.ts) into the text it sends, with fresh
// randomness per execution; `policy explain --sql` shows them (`<encrypt patient.pat_ssn
// (randomized)>`) with no keyring at all.
//
// A marker is a string constant in literal position, `'\x<nonce><id>'` (a valid bytea literal: the
// backend's grammar check of the rewritten text reads it as the constant it will be), where the
// nonce is random per Rewriter (12 bytes) and the id a 32-bit number never reused by that
// Rewriter. Client text cannot forge one without the nonce, and `substitute` refuses a text where
// the nonce appears anywhere other than at a marker the plan lists, or a listed marker does not
// appear exactly once. The canonical plaintext in a placeholder is kept in the proxy's memory only
// (plans, caches); it is never logged.
import { randomBytes } from 'node:crypto';
import type { CatalogColumn, CatalogTable } from './catalog.ts';
import type { ProtectedRef, RuleCipher } from './context.ts';
import { refusalOf } from './refusals.ts';
import type { Refusal } from './refusals.ts';

export type CipherMethod = 'encrypt' | 'blindIndex' | 'equalityForms' | 'blindIndexes';

export type Placeholder =
  /** Form `form` of the `forms` that `cipher(ref)[method](canon)` returns (one for encrypt, blindIndex). */
  | { id: number; kind: 'cipher'; ref: ProtectedRef; method: CipherMethod; canon: string; form: number; forms: number }
  /** A constant written into an anonymized column whose method needs keys or randomness (pseudonymize, noise, shift). */
  | { id: number; kind: 'anonymize'; table: CatalogTable; column: CatalogColumn; text: string };

/** What a plan's markers stand for: the Rewriter's nonce and the placeholders, in creation order. */
export interface PlaceholderPlan {
  nonce: string;
  list: Placeholder[];
}

const NONCE_BYTES = 12;
const ID_HEX = 8;

/** The marker source of one Rewriter: its nonce, and ids that are never reused. */
export class Markers {
  readonly nonce: string;
  private next = 0;

  constructor(nonce: Buffer = randomBytes(NONCE_BYTES)) {
    this.nonce = nonce.toString('hex');
  }

  id(): number {
    const id = this.next;
    this.next = (this.next + 1) >>> 0;
    return id;
  }

  /** The marker's bytes (what a rule puts where ciphertext would go). */
  bytes(id: number): Buffer {
    return Buffer.from(this.nonce + hexId(id), 'hex');
  }

  /** The marker as a text constant's value (anonymized columns take text). */
  text(id: number): string {
    return `\\x${this.nonce}${hexId(id)}`;
  }
}

function hexId(id: number): string {
  return id.toString(16).padStart(ID_HEX, '0');
}

/** The SQL literal of a marker as the deparser writes it. */
export function markerLiteral(nonce: string, id: number): string {
  return `'\\x${nonce}${hexId(id)}'`;
}

/** Records the placeholders of one analysis (one Ctx) and gives rules keyless ciphers. */
export class PlaceholderList {
  readonly list: Placeholder[] = [];
  private readonly markers: Markers;
  private readonly versions: (keyName: string) => number;
  /** Told of each cipher placeholder made: the shape cache's recording. */
  onCipher: ((p: Placeholder, canon: string) => void) | null = null;

  constructor(markers: Markers, versions: (keyName: string) => number) {
    this.markers = markers;
    this.versions = versions;
  }

  plan(): PlaceholderPlan {
    return { nonce: this.markers.nonce, list: this.list };
  }

  /** A cipher whose outputs are markers: what `ctx.cipher(ref)` gives the rules. */
  cipher(ref: ProtectedRef): RuleCipher {
    const one = (method: CipherMethod) => (canon: string): Buffer => this.add({ ref, method, canon, form: 0, forms: 1 });
    const many = (method: CipherMethod) => (canon: string): Buffer[] => {
      const n = this.versions(ref.column.protection.keyName);
      return Array.from({ length: n }, (_, i) => this.add({ ref, method, canon, form: i, forms: n }));
    };
    return { encrypt: one('encrypt'), blindIndex: one('blindIndex'), equalityForms: many('equalityForms'), blindIndexes: many('blindIndexes') };
  }

  /** The marker text of an anonymized constant the executor computes. */
  anonymize(table: CatalogTable, column: CatalogColumn, text: string): string {
    const id = this.markers.id();
    this.list.push({ id, kind: 'anonymize', table, column, text });
    return this.markers.text(id);
  }

  private add(what: Omit<Placeholder & { kind: 'cipher' }, 'id' | 'kind'>): Buffer {
    const id = this.markers.id();
    const p: Placeholder = { id, kind: 'cipher', ...what };
    this.list.push(p);
    this.onCipher?.(p, what.canon);
    return this.markers.bytes(id);
  }
}

function count(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

/**
 * `texts` with each listed marker literal replaced by `value(p)` (an SQL literal), or the refusal
 * when the markers in the texts are not exactly the listed ones, each once (a forged or stale
 * marker, or one a rule dropped).
 */
export function substitute(texts: readonly string[], plan: PlaceholderPlan, value: (p: Placeholder) => string): string[] | Refusal {
  const lower = texts.map((t) => t.toLowerCase());
  const seen = lower.reduce((n, t) => n + count(t, plan.nonce), 0);
  const found = plan.list.map((p) => {
    const lit = markerLiteral(plan.nonce, p.id);
    const at = texts.flatMap((t, i) => (count(t, lit) === 1 ? [i] : []));
    const total = texts.reduce((n, t) => n + count(t, lit), 0);
    return total === 1 ? at[0] : undefined;
  });
  if (seen !== plan.list.length || found.some((i) => i === undefined)) return refusalOf('placeholderMismatch', { listed: plan.list.length, seen });
  const out = [...texts];
  for (const [k, p] of plan.list.entries()) {
    const i = found[k] as number;
    out[i] = (out[i] as string).replace(markerLiteral(plan.nonce, p.id), () => value(p));
  }
  return out;
}

/** How `policy explain --sql` shows a placeholder (in place of the literal, its cast included). */
export function describePlaceholder(p: Placeholder): string {
  if (p.kind === 'anonymize') return `<anonymize ${p.table.table}.${p.column.name}>`;
  const { table, column } = p.ref;
  const name = `${table.table}.${column.name}`;
  const of = p.forms > 1 ? `, key version ${p.form + 1} of ${p.forms}` : '';
  switch (p.method) {
    case 'encrypt': return `<encrypt ${name} (${column.protection.mode})>`;
    case 'blindIndex': return `<blind index ${name}>`;
    case 'equalityForms': return `<encrypt ${name} (${column.protection.mode}${of})>`;
    case 'blindIndexes': return `<blind index ${name}${of ? ` (${of.slice(2)})` : ''}>`;
  }
}
