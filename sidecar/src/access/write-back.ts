// The write-back statement of a write that computes (issue 10, rewrite/two-stage/write.ts): the
// per-row statement goes through the rules like any write, so every value the proxy computed is
// protected for the column it goes into (encrypted with that column's key and mode, with its blind
// index) by the same parameter transformer an application's own `UPDATE … SET col = $1` gets.
import type { Rewriter } from '../rewrite/rewriter.ts';
import type { WriteSpec } from '../rewrite/two-stage/write.ts';
import { paramTransformer, paramTypeFor } from '../protection/params.ts';
import type { Refuse, WriteBack } from '../session/pipeline.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

/** The WriteBack of `spec`, or the rules' refusal of its write-back statement. */
export function writeBack(rw: Rewriter, spec: WriteSpec): WriteBack | Refuse {
  const a = rw.analyze(spec.sql);
  if (a.kind === 'refuse') return { kind: 'refuse', code: a.code, message: a.message };
  if (a.kind === 'pass') return { command: spec.command, sql: spec.sql, paramTypes: [] };
  const s = a.statements[0];
  if (!s || a.statements.length !== 1) return { kind: 'refuse', code: SQLSTATE.internalError, message: 'clarus: unexpected write-back plan' };
  const supplied = a.paramCount;
  // Parameters without a role (the row key, plain columns) are typed by the backend from their use.
  const paramTypes = Array.from({ length: a.paramCount }, (_, i) => paramTypeFor(a.params.get(i + 1), 0));
  const params = a.params.size > 0 ? paramTransformer(a.params, a.paramCount, (r) => rw.cipher(r), supplied) : undefined;
  return { command: spec.command, sql: s.sql, paramTypes, ...(params ? { params } : {}) };
}
