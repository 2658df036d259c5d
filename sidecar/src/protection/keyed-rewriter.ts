// The rewriter with the keys, on the executor's side: the analysis (rewrite/rewriter.ts) holds no
// keys and caches plans with placeholders; this fills them at each call (protection/fill.ts) and
// gives the executor's other parts (parameters at Bind, results, COPY) their column ciphers.
import type { Catalog } from '../rewrite/catalog.ts';
import type { ProtectedRef } from '../rewrite/context.ts';
import { Rewriter } from '../rewrite/rewriter.ts';
import type { Analysis, RewriterOptions } from '../rewrite/rewriter.ts';
import type { Major } from '../rewrite/grammar.ts';
import { columnCipher } from './encryption/column.ts';
import type { ColumnCipher } from './encryption/column.ts';
import type { KeyDeriver } from './encryption/derive.ts';
import { fillAnalysis } from './fill.ts';
import { ConstantMemo } from './constant-memo.ts';
import { assertUsable, requireKey } from './encryption/keyring.ts';

export class KeyedRewriter extends Rewriter {
  private readonly deriver: KeyDeriver;
  private readonly ciphers = new Map<string, ColumnCipher>();
  /** The deterministic constants of the cached plans, per key epoch (constant-memo.ts). */
  readonly constants: ConstantMemo;

  constructor(catalog: Catalog, deriver: KeyDeriver, options: RewriterOptions & { constantMemoBytes?: number } = {}) {
    super(catalog, options);
    this.deriver = deriver;
    this.constants = new ConstantMemo((keyName) => this.keyEpoch(keyName), options.constantMemoBytes);
  }

  /** What a deterministic value under `keyName` depends on besides its input: the current and live versions. */
  private keyEpoch(keyName: string): string {
    assertUsable(this.deriver.ring);
    const k = requireKey(this.deriver.ring, keyName);
    return `${k.current}:${[...k.versions.keys()].join(',')}`;
  }

  cipher(ref: ProtectedRef): ColumnCipher {
    const key = `${ref.table.schema}.${ref.table.table}.${ref.column.name}`;
    let c = this.ciphers.get(key);
    if (!c) {
      const p = ref.column.protection;
      c = columnCipher(this.deriver, { schema: ref.table.schema, table: ref.table.table, column: ref.column.name, mode: p.mode, searchable: p.searchable, keyName: p.keyName });
      this.ciphers.set(key, c);
    }
    return c;
  }

  /** The plan with placeholders, as the rewriter cached it (for the executor's own use). */
  plan(sql: string, major?: Major): Analysis {
    return super.analyze(sql, major);
  }

  /** The analysis with its placeholders filled: the text the backend gets, fresh at each call. */
  override analyze(sql: string, major?: Major): Analysis {
    return fillAnalysis(super.analyze(sql, major), (r) => this.cipher(r), this.constants);
  }
}
