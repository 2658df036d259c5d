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
    d.name, `${d.schema}.${d.table}.${c.name}`, c.attributeType, describeProtection(c, defaultBackend), c.backend, describeLeak(c, defaultBackend),
  ]));
  const title = `SecurityPolicy ${p.metadata.namespace ?? 'default'}/${p.metadata.name}: default backend ${defaultBackend}, `
    + `unsupported statements: ${p.spec.onUnsupported ?? 'reject'}`;
  const footer = 'Every backend also sees: table names, row counts, value sizes, timing and the shape of statements. '
    + 'Columns not listed pass through unprotected.';
  // Splitting is declared by the API but not implemented by the proxy yet, which refuses such
  // datasets (sidecar/src/rewrite/split.ts): say so next to the leak table that assumes it works.
  const split = datasets.filter((d) => d.columns.some((c) => c.backend !== defaultBackend)).map((d) => d.name);
  const note = split.length > 0
    ? `\nNote: splitting is not supported by this proxy version: it refuses every statement on dataset(s) ${split.join(', ')} `
      + '(SQLSTATE 0A000) and stores nothing; the BACKEND and LEAKS columns describe the policy as declared.\n'
    : '';
  return `${title}\n\n${formatTable(['DATASET', 'COLUMN', 'ATTRIBUTE TYPE', 'PROTECTION', 'BACKEND', 'LEAKS'], rows)}\n\n${footer}\n${note}`;
}
