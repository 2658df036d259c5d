// A validation finding: which resource, which field, why.
export interface Issue {
  /** Kind/namespace/name of the resource, e.g. SecurityPolicy/hospital/ehealth. */
  resource: string;
  /** Field path inside the resource, e.g. spec.datasets[0].columns[2].protection. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
  /** File the resource came from, when known. */
  source?: string;
}

export function formatIssue(i: Issue): string {
  const where = i.source ? `${i.source}: ` : '';
  return i.path ? `${where}${i.severity}: ${i.resource}: ${i.path}: ${i.message}` : `${where}${i.severity}: ${i.resource}: ${i.message}`;
}

export function resourceId(kind: string, metadata: { name?: string; namespace?: string } | undefined): string {
  return `${kind}/${metadata?.namespace ?? 'default'}/${metadata?.name ?? '<unnamed>'}`;
}
