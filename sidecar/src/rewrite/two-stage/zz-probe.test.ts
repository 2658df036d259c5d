import { beforeAll, it } from 'vitest';
import { EHEALTH_POLICY, TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';
import { KeyDeriver } from '../../protection/encryption/derive.ts';
import { parseKeyring } from '../../protection/encryption/keyring.ts';
import { Catalog } from '../catalog.ts';
import { loadParser } from '../parser.ts';
import { Rewriter } from '../rewriter.ts';
let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  const cat = new Catalog(EHEALTH_POLICY);
  for (const t of cat.all()) cat.learn(t.schema, t.table, undefined);
  rw = new Rewriter(cat, new KeyDeriver(parseKeyring(EHEALTH_POLICY.keyring.keys, TEST_KEY_FILES)), { twoStage: true });
});
it('x', () => {
  for (const sql of (process.env.SQLS ?? '').split(';;')) {
    const a = rw.analyze(sql);
    console.log(sql, '\n=>', a.kind === 'plan' ? JSON.stringify(a.statements.map((s) => [s.sql, s.residual?.sql, s.residual?.write])) + ' params ' + JSON.stringify([...a.params.entries()].map(([k,v])=>[k,v.kind])) : JSON.stringify(a).slice(0,400));
  }
});
