// SecurityPolicy → RuntimePolicy datasets: attribute-type defaults applied, so every RuntimeColumn
// carries its effective protection and placement.
import type { AnonymizeProtection, ColumnSpec, DatasetSpec, Protection, SecurityPolicySpec } from '@clarus/crds/types.ts';
import type { RuntimeColumn, RuntimeDataset } from './config.ts';

export const DEFAULT_KEY = 'default';
/** Placement name used when the proxy forwards everything to a partner proxy (spec.upstream). */
export const UPSTREAM_BACKEND = 'upstream';

export function effectiveProtection(spec: SecurityPolicySpec, column: ColumnSpec): Protection {
  return column.protection ?? spec.attributeTypes?.[column.attributeType] ?? {};
}

function runtimeAnonymize(a: AnonymizeProtection): AnonymizeProtection {
  if (a.pseudonymize) return { pseudonymize: { format: 'hex', ...a.pseudonymize, keyName: a.pseudonymize.keyName ?? DEFAULT_KEY } };
  if (a.mask) return { mask: { char: '*', ...a.mask } };
  if (a.suppress) return { suppress: { value: a.suppress.value ?? null } };
  return structuredClone(a);
}

function runtimeEncrypt(e: NonNullable<Protection['encrypt']>): NonNullable<RuntimeColumn['encrypt']> {
  const out: NonNullable<RuntimeColumn['encrypt']> = { mode: e.mode, searchable: e.searchable ?? false, keyName: e.keyName ?? DEFAULT_KEY };
  if (e.maskedView) out.maskedView = structuredClone(e.maskedView);
  return out;
}

/**
 * Where a column lives. A point split by coordinates is placed on the backend of a coordinate other
 * than the default one, so everything that asks "is this column split?" sees it; `coordinates`
 * says where X and Y go.
 */
function placement(p: Protection, defaultBackend: string): Pick<RuntimeColumn, 'backend' | 'coordinates'> {
  const coordinates = p.split?.coordinates;
  const backend = p.split?.backend ?? coordinates?.find((b) => b !== defaultBackend) ?? defaultBackend;
  return coordinates?.length === 2 ? { backend, coordinates: [coordinates[0] as string, coordinates[1] as string] } : { backend };
}

export function runtimeColumn(spec: SecurityPolicySpec, column: ColumnSpec, defaultBackend: string): RuntimeColumn {
  const p = effectiveProtection(spec, column);
  // An unquoted identifier, as clients write it: PostgreSQL folds it to lower case (see splitTable).
  const out: RuntimeColumn = { name: column.name.toLowerCase(), attributeType: column.attributeType, ...placement(p, defaultBackend) };
  if (p.encrypt) out.encrypt = runtimeEncrypt(p.encrypt);
  if (p.anonymize) out.anonymize = runtimeAnonymize(p.anonymize);
  return out;
}

/**
 * `[schema.]table` as the proxy matches it. The names are unquoted identifiers, which PostgreSQL
 * folds to lower case, so `PUBLIC.Patient` is public.patient — the same table for validation
 * (rules/securitypolicy.ts tableKey, the CRD rule) and for the proxy, which otherwise never matched
 * `patient` against a dataset written `Patient` and passed its rows in clear.
 */
export function splitTable(table: string): { schema: string; table: string } {
  const t = table.toLowerCase();
  const dot = t.indexOf('.');
  return dot < 0 ? { schema: 'public', table: t } : { schema: t.slice(0, dot), table: t.slice(dot + 1) };
}

export function runtimeDataset(spec: SecurityPolicySpec, d: DatasetSpec, defaultBackend: string): RuntimeDataset {
  const out: RuntimeDataset = { name: d.name, ...splitTable(d.table), columns: d.columns.map((c) => runtimeColumn(spec, c, defaultBackend)) };
  if (d.rowKey) out.rowKey = d.rowKey.toLowerCase();
  return out;
}

export function isProtected(c: RuntimeColumn, defaultBackend: string): boolean {
  return c.encrypt !== undefined || c.anonymize !== undefined || c.backend !== defaultBackend;
}

/** Every keyring key name the policy's effective protections use. */
export function usedKeyNames(datasets: RuntimeDataset[]): string[] {
  const names = new Set<string>();
  for (const d of datasets) {
    for (const c of d.columns) {
      if (c.encrypt) names.add(c.encrypt.keyName);
      if (c.anonymize?.pseudonymize?.keyName) names.add(c.anonymize.pseudonymize.keyName);
    }
  }
  return [...names].sort();
}
