// `explain --sql` through the proxy's own rewriter (sidecar/src/rewrite), loaded lazily so the
// policy tooling does not load the proxy unless asked. Literals are encrypted with throwaway keys:
// the rewritten statement has the real shape, never real ciphertext of the user's values.
import { randomBytes } from 'node:crypto';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { DEFAULT_KEY, usedKeyNames } from '@clarus/policy/runtime/policy.ts';
import { formatTable } from './table.ts';

export type RewriteOutcome =
  | { kind: 'pass' }
  | { kind: 'refuse'; code: string; message: string }
  | { kind: 'plan'; statements: string[]; stages?: Array<TwoStages | undefined> };

/** A two-stage statement: what the backend evaluates, what the proxy computes, what the backend learns. */
export interface TwoStages { backend: string; proxy: string; pushed: number; kept: number; learns: string }

export async function rewriteSql(sql: string, policy: RuntimePolicy): Promise<RewriteOutcome> {
  const [{ Rewriter }, { Catalog }, { KeyDeriver }, { parseKeyring }, { loadParser }] = await Promise.all([
    import('@clarus/sidecar/rewrite/rewriter.ts'),
    import('@clarus/sidecar/rewrite/catalog.ts'),
    import('@clarus/sidecar/protection/encryption/derive.ts'),
    import('@clarus/sidecar/protection/encryption/keyring.ts'),
    import('@clarus/sidecar/rewrite/parser.ts'),
  ]);
  await loadParser();
  const names = [...new Set([DEFAULT_KEY, ...usedKeyNames(policy.datasets)])];
  const keys = names.map((name) => ({ name, versions: [1], current: 1 }));
  const files = new Map(names.map((n) => [`${n}.v1`, randomBytes(32).toString('base64')]));
  const rewriter = new Rewriter(new Catalog({ ...policy, keyring: { ...policy.keyring, keys } }), new KeyDeriver(parseKeyring(keys, files)), { twoStage: true });
  const a = rewriter.analyze(sql);
  if (a.kind === 'pass') return { kind: 'pass' };
  if (a.kind === 'refuse') return { kind: 'refuse', code: a.code, message: a.message };
  const stages = a.statements.map((s): TwoStages | undefined => s.residual && {
    backend: s.sql, proxy: s.residual.sql, pushed: s.residual.pushed, kept: s.residual.kept,
    learns: s.residual.pushed === 0
      ? 'every row of the tables in FROM is fetched: the backend learns that a full scan happened (and how many rows there are), not the values'
      : 'the rows matching the pushed conditions are fetched: the backend learns which rows those are, as it would for the pushed conditions alone',
  });
  return { kind: 'plan', statements: a.statements.map((s) => s.sql), ...(stages.some(Boolean) ? { stages } : {}) };
}

function formatStages(t: TwoStages, i: number): string {
  return [`  ${i + 1}. computed in two stages (${t.pushed} condition(s) evaluated by the backend, ${t.kept} by the proxy):`,
    `     backend stage: ${t.backend}`, `     proxy stage:   ${t.proxy}`, `     the backend learns: ${t.learns}`].join('\n');
}

export function formatRewrite(r: RewriteOutcome, protectedRows: string[][]): string {
  const cols = protectedRows.length > 0 ? `\nProtected columns referenced:\n${formatTable(['DATASET', 'COLUMN', 'PROTECTION', 'BACKEND', 'LEAKS'], protectedRows)}\n` : '';
  if (r.kind === 'pass') return `Passes through unchanged (touches no protected column).\n${cols}`;
  if (r.kind === 'refuse') return `Refused with SQLSTATE ${r.code}: ${r.message}\n${cols}`;
  const lines = r.statements.map((s, i) => {
    const t = r.stages?.[i];
    return t ? formatStages(t, i) : `  ${i + 1}. ${s}`;
  });
  return `Rewritten by the proxy's rewriter (literals encrypted with throwaway keys):\n${lines.join('\n')}\n${cols}`;
}
