// COPY hooks for protected tables: FROM STDIN encrypts each row's protected fields and appends
// the blind-index fields; TO STDOUT presents ciphertext fields per the user's view.
import { anonymizeText } from '../protection/anonymize-write.ts';
import { canonicalText } from '../protection/encryption/canonical.ts';
import { csvRowTransformer } from '../protection/copy-csv.ts';
import { byteaFromText, byteaText, copyRowTransformer } from '../protection/copy-text.ts';
import type { RowFn } from '../protection/copy-text.ts';
import type { ProtectedOutput } from '../protection/results.ts';
import { presentText } from '../protection/results.ts';
import type { CopyHooks } from '../session/pipeline.ts';
import { isEncrypted } from '../rewrite/catalog.ts';
import type { CopyFormat, CopyPlan } from '../rewrite/copy.ts';
import type { Rewriter } from '../rewrite/rewriter.ts';

function rows(f: CopyFormat, fn: RowFn) {
  return f.kind === 'csv' ? csvRowTransformer(f, fn) : copyRowTransformer(fn, f);
}

export function copyHooks(rw: Rewriter, plan: CopyPlan, outs: ProtectedOutput[]): CopyHooks | undefined {
  if (plan.direction === 'out') {
    if (outs.length === 0) return undefined;
    return {
      out: rows(plan.format, (fields) => {
        for (const o of outs) {
          const v = fields[o.index];
          if (v !== null && v !== undefined) fields[o.index] = presentText(o, byteaFromText(v));
        }
        return fields;
      }),
    };
  }
  const { table, columns } = plan;
  // One cipher per encrypted column, resolved when the COPY starts rather than per field.
  const ciphers = columns.map((c) => (isEncrypted(c) ? rw.cipher({ table, column: c }) : undefined));
  return {
    in: rows(plan.format, (fields) => {
      if (fields.length !== columns.length) throw new Error(`COPY row has ${fields.length} fields, expected ${columns.length}`);
      const extra: Array<string | null> = [];
      const out = columns.map((c, i) => {
        const v = fields[i] ?? null;
        if (c.protection.kind === 'anonymize') return v === null ? null : (anonymizeText(c.protection.spec, v, c.typeOid) ?? null);
        const cipher = ciphers[i];
        if (!cipher || c.protection.kind !== 'encrypt') return v;
        const text = v === null ? null : canonicalText(c.typeOid, v);
        if (c.protection.searchable) extra.push(text === null ? null : byteaText(cipher.blindIndex(text)));
        return text === null ? null : byteaText(cipher.encrypt(text));
      });
      return [...out, ...extra];
    }),
  };
}
