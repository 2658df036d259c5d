// SQLSTATEs come only from the table (sidecar/src/protocol/sqlstate.ts): production code names them
// as SQLSTATE.<condition>, so a refusal's code can be found, checked and changed in one place. This
// check parses every production TypeScript file and fails on a string literal that is a SQLSTATE
// (comments do not count; test code may spell codes it expects). It proves itself on a planted one.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TABLE = 'sidecar/src/protocol/sqlstate.ts';
/** Production source of each package (test code: *.test.ts and any test/ folder, excluded below). */
const PRODUCTION = ['crds/src', 'policy/src', 'log/src', 'sidecar/src', 'operator/src', 'cli/src'];
/** PostgreSQL's SQLSTATE classes (errcodes-appendix); a code is a class and three more characters. */
const CLASSES = ['00', '01', '02', '03', '08', '09', '0A', '0B', '0F', '0L', '0P', '0Z', '20', '21', '22', '23', '24',
  '25', '26', '27', '28', '2B', '2D', '2F', '34', '38', '39', '3B', '3D', '3F', '40', '42', '44', '53', '54', '55', '57',
  '58', '72', 'F0', 'HV', 'P0', 'XX'];
const SQLSTATE_RE = new RegExp(`^(${CLASSES.join('|')})[0-9A-Z]{3}$`);

interface Hit { file: string; line: number; code: string }

/** String literals in `text` that are SQLSTATEs. */
export function sqlstateLiterals(file: string, text: string): Hit[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const hits: Hit[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && SQLSTATE_RE.test(n.text) && !ts.isImportDeclaration(n.parent)) {
      hits.push({ file, line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1, code: n.text });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return hits;
}

function productionFiles(root: string, dir: string): string[] {
  let entries;
  try { entries = readdirSync(join(root, dir), { withFileTypes: true }); } catch { return []; }
  return entries.flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'test' || e.name === 'node_modules' ? [] : productionFiles(root, path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Every SQLSTATE literal in the production code under `root`, outside the table. */
export function literalsOutsideTable(root: string): Hit[] {
  return PRODUCTION.flatMap((d) => productionFiles(root, d))
    .filter((f) => f !== TABLE)
    .flatMap((f) => sqlstateLiterals(f, readFileSync(join(root, f), 'utf8')));
}

const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

describe('SQLSTATEs only from the table', () => {
  it('finds no SQLSTATE literal in production code outside sidecar/src/protocol/sqlstate.ts', () => {
    expect(literalsOutsideTable(ROOT).map((h) => `${h.file}:${h.line} '${h.code}'`)).toEqual([]);
  });

  it('reads the table itself (the scan looks at real source)', () => {
    const codes = sqlstateLiterals(TABLE, readFileSync(join(ROOT, TABLE), 'utf8')).map((h) => h.code);
    expect(codes).toContain('0A000');
    expect(codes).toContain('08P01');
  });

  it('fails on a literal planted in production code, and ignores the table, tests and comments', () => {
    const root = mkdtempSync(join(tmpdir(), 'clarus-sqlstate-'));
    roots.push(root);
    const files: Record<string, string> = {
      [TABLE]: "export const SQLSTATE = { featureNotSupported: '0A000' } as const;\n",
      'sidecar/src/rewrite/rule.ts': "// refused with '0A000' (a comment)\nexport const r = () => { throw new Error('0A000'); };\n",
      'operator/src/status.ts': 'export type Code = `42501`;\nexport const fine = ["FATAL", "16384", "0A00", "0A0000"];\n',
      'sidecar/src/rewrite/rule.test.ts': "export const expected = '0A000';\n",
      'sidecar/test/integration/x.ts': "export const expected = '42501';\n",
    };
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, f)), { recursive: true });
      writeFileSync(join(root, f), text);
    }
    expect(literalsOutsideTable(root)).toEqual([
      { file: 'sidecar/src/rewrite/rule.ts', line: 2, code: '0A000' },
      { file: 'operator/src/status.ts', line: 1, code: '42501' },
    ]);
  });
});
