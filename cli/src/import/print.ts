// The import's YAML: the manifests, with each note as a comment next to the column or attribute
// type it is about, and the file-level notes in a header. Pure.
import { Document, isMap, type Node } from 'yaml';
import type { ImportResult } from './clarus1.ts';

function comment(lines: string[]): string {
  return lines.map((l) => ` note: ${l}`).join('\n');
}

function annotate(node: unknown, lines: string[] | undefined): void {
  if (!lines || lines.length === 0 || !isMap(node)) return;
  (node as Node).commentBefore = comment(lines);
}

function policyYaml(r: ImportResult): string {
  const doc = new Document(r.policy);
  for (const [type, notes] of Object.entries(r.typeNotes)) annotate(doc.getIn(['spec', 'attributeTypes', type], true), notes);
  r.policy.spec.datasets.forEach((d, di) => {
    d.columns.forEach((c, ci) => annotate(doc.getIn(['spec', 'datasets', di, 'columns', ci], true), r.columnNotes[`${d.table}/${c.name}`]));
  });
  return doc.toString({ lineWidth: 0 });
}

export function importYaml(r: ImportResult, source: string): string {
  const header = [
    `# Imported from CLARUS 1.0 policy ${source} by clarus policy import.`,
    ...r.notes.map((n) => `# note: ${n}`),
    ...r.refusals.map((u) => `# PROTECTS LESS THAN THE XML: ${u}`),
  ];
  return `${header.join('\n')}\n${[policyYaml(r), ...r.backends.map((b) => new Document(b).toString({ lineWidth: 0 }))].join('---\n')}`;
}
