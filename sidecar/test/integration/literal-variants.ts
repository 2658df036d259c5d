// Texts that differ from a statement only in literal values (for the shape-cache differentials):
// the text, then three with every literal changed, then one per literal with only that one changed.
import { shapeOf, withLiterals } from '../../src/rewrite/shape.ts';
import type { LiteralClass } from '../../src/rewrite/shape.ts';

const OTHER: Record<LiteralClass, (k: number, v: number) => string> = {
  i: (k, v) => String((k * 37 + v * 11) % 97),
  F: (k, v) => String(5_000_000_000 + k * 1000 + v),
  f: (k, v) => `${k}.${v}5`,
  s: (k, v) => (v % 2 ? `'v${k}-${v}'` : `'it''s ${k}'`),
};

export function literalVariants(sql: string): string[] {
  const shape = shapeOf(sql);
  if (!shape) return [sql];
  const out = [sql];
  for (let v = 1; v <= 3; v++) out.push(withLiterals(sql, shape, new Map(shape.literals.map((l, k) => [k, OTHER[l.cls](k, v)]))));
  for (const [k, l] of shape.literals.entries()) out.push(withLiterals(sql, shape, new Map([[k, OTHER[l.cls](k, 9)]])));
  return out;
}
