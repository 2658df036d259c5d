// The backend grammars load on demand (issue 15, goal 5: each is a WebAssembly instance of 15–60
// MiB once used): the rewriter's parser alone loads none of them, a check against a grammar that
// is not loaded fails closed, and loading one makes it usable without loading the others.
import { describe, expect, it } from 'vitest';
import { backendAgrees, grammarLoaded, loadGrammar } from './grammar.ts';
import { loadRewriterParser, parseTree } from './parser.ts';

describe('backend grammars load on demand', () => {
  it('loads only the grammar asked for, and refuses to check against one not loaded', async () => {
    await loadRewriterParser();
    expect([15, 16, 17].map((m) => grammarLoaded(m as 15 | 16 | 17))).toEqual([false, false, false]);
    const sql = 'SELECT name FROM patients WHERE id = 1';
    const tree = parseTree(sql).tree;
    expect(backendAgrees(15, sql, tree)).toEqual({ ok: false, reason: 'the PostgreSQL 15 grammar is not loaded in this proxy' });
    // 18 is the rewriter's own parse: always there.
    expect(backendAgrees(18, sql, tree)).toEqual({ ok: true });
    await Promise.all([loadGrammar(15), loadGrammar(15)]);
    expect(grammarLoaded(15)).toBe(true);
    expect([16, 17].map((m) => grammarLoaded(m as 16 | 17))).toEqual([false, false]);
    expect(backendAgrees(15, sql, tree)).toEqual({ ok: true });
    // JSON_TABLE came with PostgreSQL 17: the 15 grammar, now loaded, refuses it.
    const pg18Only = `SELECT * FROM JSON_TABLE('[]'::jsonb, '$[*]' COLUMNS (a int PATH '$')) j`;
    expect(backendAgrees(15, pg18Only, parseTree(pg18Only).tree).ok).toBe(false);
  });
});
