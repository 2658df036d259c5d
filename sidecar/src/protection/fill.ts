// The executor's half of a plan (issue 9): the rewriter's plan carries placeholders where protected
// constants go (rewrite/placeholders.ts); this turns it into the text sent to the backend, with the
// keys. Called at each execution of a plan (a cached plan included), so a randomized column's
// constant gets a fresh nonce every time and the plan itself never holds ciphertext.
import type { Analysis } from '../rewrite/rewriter.ts';
import { describePlaceholder, substitute } from '../rewrite/placeholders.ts';
import type { Placeholder } from '../rewrite/placeholders.ts';
import type { ProtectedRef } from '../rewrite/context.ts';
import { Refusal, refusalOf } from '../rewrite/refusals.ts';
import { anonymizeText } from './anonymize-write.ts';
import { writeKeys } from './anonymization/keys.ts';
import type { ColumnCipher } from './encryption/column.ts';
import type { ConstantMemo } from './constant-memo.ts';

type Plan = Extract<Analysis, { kind: 'plan' }>;
type Refused = Extract<Analysis, { kind: 'refuse' }>;

/** A string constant as the backend reads it (standard_conforming_strings is pinned on). */
function quoted(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The SQL literal a placeholder stands for, computed with the keys (throws Refusal or KeyringError). */
export function placeholderValue(p: Placeholder, cipher: (ref: ProtectedRef) => ColumnCipher): string {
  if (p.kind === 'anonymize') {
    if (p.column.protection.kind !== 'anonymize') throw refusalOf('notGeneralizable', { table: p.table, column: p.column });
    const out = anonymizeText(p.column.protection.spec, p.text, p.column.typeOid, writeKeys(cipher));
    if (out === undefined) throw refusalOf('notGeneralizable', { table: p.table, column: p.column });
    // The marker may sit in a dollar-quoted body (a temporary PL/pgSQL function) whose tag the
    // deparser chose without this value: a `$` in it could end the body. Refused, never sent.
    if (out?.includes('$')) throw refusalOf('protectFailed', { error: `an anonymized value for ${p.table.table}.${p.column.name} holds '$'` });
    return out === null ? 'NULL' : quoted(out);
  }
  const c = cipher(p.ref);
  const forms = p.method === 'encrypt' || p.method === 'blindIndex' ? [c[p.method](p.canon)] : c[p.method](p.canon);
  // The rewriter counted the live key versions from the policy's keyring list; the keyring must agree.
  if (forms.length !== p.forms) throw refusalOf('protectFailed', { error: `key ${p.ref.column.protection.keyName} has ${forms.length} live versions, the plan ${p.forms}` });
  return `'\\x${(forms[p.form] as Buffer).toString('hex')}'`;
}

function refusedBy(a: Plan, r: Refusal): Refused {
  return { kind: 'refuse', code: r.code, message: r.message, reason: r.kind ?? 'other', datasets: a.datasets, write: a.write, ...(a.everyDataset !== undefined ? { everyDataset: a.everyDataset } : {}) };
}

/** The texts of the plan with `value` of each placeholder, or the refusal. */
function filledWith(a: Plan, value: (p: Placeholder) => string): Analysis {
  if (!a.placeholders) return a;
  const plan = a.placeholders;
  let texts;
  try {
    texts = substitute(a.statements.map((s) => s.sql), plan, value);
  } catch (e) {
    if (e instanceof Refusal) return refusedBy(a, e);
    return refusedBy(a, refusalOf('protectFailed', { error: (e as Error).message }));
  }
  if (texts instanceof Refusal) return refusedBy(a, texts);
  const { placeholders: _, ...rest } = a;
  return { ...rest, statements: a.statements.map((s, i) => ({ ...s, sql: texts[i] as string })) };
}

/**
 * The analysis as the backend gets it: every placeholder replaced by its protected form (fresh
 * randomness per call), or a refusal when the text's markers are not exactly the plan's or a key
 * cannot be used. Analyses without placeholders are returned as they are. With `memo`, the
 * deterministic values (SIV ciphertext, blind indexes) are reused per plan and key epoch (constant-memo.ts).
 */
export function fillAnalysis(a: Analysis, cipher: (ref: ProtectedRef) => ColumnCipher, memo?: ConstantMemo): Analysis {
  if (a.kind !== 'plan') return a;
  return filledWith(a, memo ? (p) => memo.value(p, () => placeholderValue(p, cipher)) : (p) => placeholderValue(p, cipher));
}

/** The analysis as `policy explain --sql` shows it: each placeholder as `<encrypt patient.pat_ssn (randomized)>`. */
export function describedAnalysis(a: Analysis): Analysis {
  if (a.kind !== 'plan' || !a.placeholders) return a;
  const shown = filledWith(a, describePlaceholder);
  if (shown.kind !== 'plan') return shown;
  return { ...shown, statements: shown.statements.map((s) => ({ ...s, sql: s.sql.replace(/>::bytea/g, '>') })) };
}
