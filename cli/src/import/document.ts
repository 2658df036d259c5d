// The elements of a CLARUS 1.0 policy document: attributes wherever they are (CLARUS's modules
// find `<attribute>` anywhere: `<data>`, `<dataset>`, `<file>`), the protection rules, and the
// protocol. Every element or XML attribute the import drops is reported. Pure.
import type { AttributeType } from '@clarus/crds/types.ts';
import type { XmlElement } from './xml.ts';

export const TYPES: Record<string, AttributeType> = {
  identifier: 'identifier', quasi_identifier: 'quasiIdentifier', confidential: 'confidential',
  non_confidential: 'nonConfidential', technical_identifier: 'technicalIdentifier',
};
const DATA_TYPES = new Set(['categoric', 'categoric_ordinal', 'numeric_discrete', 'numeric_continuous', 'date', 'geometric_object', 'semantic', 'text']);

/**
 * `joint`: the anonymization module's file form (`<file>`, `<dataset>`), where one record holds
 * every attribute and k-anonymity groups whole records; `<data>` is the proxy's, per table.
 */
export type Container = 'data' | 'joint';

export interface RawAttribute { name: string; type: AttributeType; line: number; container: Container }
export interface Document { attributes: RawAttribute[]; protections: XmlElement[]; protocol?: XmlElement }
interface Sink { notes: string[]; refusals: string[] }
interface Walk { doc: Document; sink: Sink; dataTypes: Set<string> }

const CONTAINERS: Record<string, { container: Container; dropped: string[] }> = {
  data: { container: 'data', dropped: [] },
  dataset: { container: 'joint', dropped: [] },
  file: { container: 'joint', dropped: ['header', 'attribute_separator', 'record_separator'] },
};
const lc = (s: string): string => s.toLowerCase();

function attribute(el: XmlElement, container: Container, sink: Sink, dataTypes: Set<string>): RawAttribute | undefined {
  for (const k of Object.keys(el.attrs).filter((a) => !['name', 'attribute_type', 'data_type'].includes(a))) {
    sink.notes.push(`line ${el.line}: ${k}="${el.attrs[k]}" on <attribute> is not a CLARUS 1.0 setting; ignored, as CLARUS did`);
  }
  const dt = el.attrs.data_type;
  if (dt !== undefined) dataTypes.add(dt);
  if (dt !== undefined && !DATA_TYPES.has(lc(dt))) sink.notes.push(`line ${el.line}: data_type "${dt}" is not a CLARUS data type; ignored (the proxy reads column types from the database)`);
  const type = TYPES[lc(el.attrs.attribute_type ?? '')];
  const name = el.attrs.name;
  if (!type) {
    sink.refusals.push(`line ${el.line}: attribute "${name ?? ''}": attribute_type "${el.attrs.attribute_type ?? ''}" is not one of ${Object.keys(TYPES).join(', ')}; the import cannot tell how it was meant to be protected`);
    return undefined;
  }
  if (!name) {
    sink.refusals.push(`line ${el.line}: <attribute> without a name`);
    return undefined;
  }
  return { name, type, line: el.line, container };
}

function walk(el: XmlElement, container: Container, w: Walk): void {
  const { doc, sink, dataTypes } = w;
  for (const child of el.children) {
    const name = lc(child.name);
    const c = CONTAINERS[name];
    if (name === 'attribute') {
      const a = attribute(child, container, sink, dataTypes);
      if (a) doc.attributes.push(a);
    } else if (name === 'protection') {
      doc.protections.push(child);
    } else if (name === 'protocol') {
      if (doc.protocol) sink.refusals.push(`line ${child.line}: a second <protocol>; CLARUS reads one`);
      else doc.protocol = child;
    } else if (c) {
      for (const k of Object.keys(child.attrs)) {
        const why = c.dropped.includes(k) ? 'describes a file format; Clarus protects tables' : 'is not a CLARUS 1.0 setting';
        sink.notes.push(`line ${child.line}: <${child.name} ${k}="${child.attrs[k]}"> dropped: it ${why}`);
      }
      walk(child, c.container, w);
    } else {
      sink.notes.push(`line ${child.line}: <${child.name}> is not a CLARUS 1.0 element; CLARUS ignored it and so does the import (its attributes are still read)`);
      walk(child, container, w);
    }
  }
}

export function readDocument(root: XmlElement, sink: Sink): Document {
  const doc: Document = { attributes: [], protections: [] };
  if (lc(root.name) !== 'schema') sink.notes.push(`line ${root.line}: root element <${root.name}>, CLARUS's is <schema>; read anyway`);
  const dataTypes = new Set<string>();
  walk(root, 'data', { doc, sink, dataTypes });
  if (dataTypes.size > 0) sink.notes.push(`data_type (${[...dataTypes].sort().join(', ')}) dropped: the proxy reads each column's type from the database`);
  return doc;
}
