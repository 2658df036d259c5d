import { ResidualEngine } from '@clarus/sidecar/residual/engine.ts';
const e = await ResidualEngine.start({ locale: 'c' });
const rel = (rows: string[][]) => ({ name: 'clarus_candidates', columns: [{ name: 'c1', typeOid: 25 }, { name: 'c2', typeOid: 20 }], rows });
const limits = { maxRows: 1e6, maxBytes: 1e9 };
for (const [label, sql] of [['upper', 'SELECT c2, upper(c1) FROM clarus_candidates'], ['count', 'SELECT 1']] as const) {
  for (let i = 0; i < 50; i++) await e.run({ relations: [rel([['Patient Name 1', '1']])], sql, limits });
  const n = 500; const t0 = performance.now();
  for (let i = 0; i < n; i++) await e.run({ relations: [rel([['Patient Name ' + i, String(i)]])], sql, limits, settings: { timeZone: 'UTC', dateStyle: 'ISO, MDY' } });
  console.log(label, ((performance.now() - t0) / n).toFixed(3), 'ms/call');
}
await e.close();
