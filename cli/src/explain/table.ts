// `clarus policy explain`: a readable table of what is protected how, where it is stored and what
// it leaks. Pure: policies in, text out.
import { runtimeDataset, UPSTREAM_BACKEND } from '@clarus/policy/runtime/policy.ts';
import type { RuntimeDataset } from '@clarus/policy/runtime/config.ts';
import type { SecurityPolicy } from '@clarus/crds/types.ts';
import { describeLeak, describeProtection } from './leaks.ts';

export function policyDatasets(p: SecurityPolicy): { defaultBackend: string; datasets: RuntimeDataset[] } {
  const defaultBackend = p.spec.backends[0] ?? UPSTREAM_BACKEND;
  return { defaultBackend, datasets: p.spec.datasets.map((d) => runtimeDataset(p.spec, d, defaultBackend)) };
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function explainPolicy(p: SecurityPolicy): string {
  const { defaultBackend, datasets } = policyDatasets(p);
  const rows = datasets.flatMap((d) => d.columns.map((c) => [
    d.name, `${d.schema}.${d.table}.${c.name}`, c.attributeType, describeProtection(c, defaultBackend), c.coordinates ? c.coordinates.join(' + ') : c.backend, describeLeak(c, defaultBackend),
  ]));
  const title = `SecurityPolicy ${p.metadata.namespace ?? 'default'}/${p.metadata.name}: default backend ${defaultBackend}, `
    + `unsupported statements: ${p.spec.onUnsupported ?? 'reject'}`;
  const footer = 'Every backend also sees: table names, row counts, value sizes, timing and the shape of statements. '
    + 'Columns not listed pass through unprotected.';
  const backends = splitBackends(defaultBackend, datasets);
  return `${title}\n\n${formatTable(['DATASET', 'COLUMN', 'ATTRIBUTE TYPE', 'PROTECTION', 'BACKEND', 'LEAKS'], rows)}\n\n${footer}\n${backends}`;
}

function pointPart(name: string, [x, y]: [string, string], backend: string): string {
  const parts = [...(backend === x ? [`${name}__x`] : []), ...(backend === y ? [`${name}__y`] : [])];
  return parts.length > 0 ? parts.join(', ') : `${name}__srid`;
}

/**
 * Split datasets (issue 12): per backend, the fragment it holds (the row key on every one) and
 * what its provider learns from it. Empty when nothing is split.
 */
export function splitBackends(defaultBackend: string, datasets: RuntimeDataset[]): string {
  const split = datasets.filter((d) => d.columns.some((c) => c.backend !== defaultBackend));
  if (split.length === 0) return '';
  const names = [defaultBackend, ...new Set(split.flatMap((d) => d.columns.flatMap((c) => c.coordinates ?? [c.backend])).filter((b) => b !== defaultBackend))];
  const rows: string[][] = [];
  for (const b of names) {
    for (const d of split) {
      // A point split by coordinates: X's backend holds <col>__x, Y's <col>__y, the default one <col>__srid.
      const held = d.columns.filter((c) => c.name === d.rowKey || (c.coordinates ? true : c.backend === b));
      const extra = b === defaultBackend ? ' + columns the policy does not list' : '';
      rows.push([b, d.name, `${held.map((c) => (c.coordinates ? pointPart(c.name, c.coordinates, b) : c.name)).join(', ')}${extra}`,
        held.filter((c) => c.name !== d.rowKey).map((c) => `${c.name}: ${describeLeak(c, b)}`).join('; ') || 'the row keys only']);
    }
  }
  return `\nSplit datasets: each backend holds a fragment (the row key plus its columns); no backend sees a whole row, `
    + `the proxy joins fragments on the row key and commits writes on several backends with two-phase commit.\n`
    + `${formatTable(['BACKEND', 'DATASET', 'HOLDS', 'LEARNS'], rows)}\n`;
}
