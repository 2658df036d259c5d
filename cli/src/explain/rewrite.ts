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
  | { kind: 'plan'; statements: string[] };

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
  const rewriter = new Rewriter(new Catalog({ ...policy, keyring: { ...policy.keyring, keys } }), new KeyDeriver(parseKeyring(keys, files)));
  const a = rewriter.analyze(sql);
  if (a.kind === 'pass') return { kind: 'pass' };
  if (a.kind === 'refuse') return { kind: 'refuse', code: a.code, message: a.message };
  return { kind: 'plan', statements: a.statements.map((s) => s.sql) };
}

export function formatRewrite(r: RewriteOutcome, protectedRows: string[][]): string {
  const cols = protectedRows.length > 0 ? `\nProtected columns referenced:\n${formatTable(['DATASET', 'COLUMN', 'PROTECTION', 'BACKEND', 'LEAKS'], protectedRows)}\n` : '';
  if (r.kind === 'pass') return `Passes through unchanged (touches no protected column).\n${cols}`;
  if (r.kind === 'refuse') return `Refused with SQLSTATE ${r.code}: ${r.message}\n${cols}`;
  const lines = r.statements.map((s, i) => `  ${i + 1}. ${s}`);
  return `Rewritten by the proxy's rewriter (literals encrypted with throwaway keys):\n${lines.join('\n')}\n${cols}`;
}
