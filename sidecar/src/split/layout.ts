// Where each column of a split dataset lives (issue 12). Pure: from the runtime policy only.
//
// A split dataset's table exists on several backends, each holding a fragment: the row key
// (replicated to every fragment) plus the columns placed there. The policy's default backend is
// the table's "home": it holds the row key, every column placed on it and every column the policy
// does not list (plain columns). Each other backend named by a column's `split.backend` holds the
// row key and its columns. The proxy sees one logical table; each backend sees a table of the same
// name with its fragment's columns.
import type { RuntimeColumn, RuntimeDataset, RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import type { PointColumn } from './points.ts';

export interface SplitLayout {
  dataset: string;
  schema: string;
  table: string;
  /** The row key column (replicated to every fragment). */
  key: string;
  /** The default backend: row key, its placed columns and every column the policy does not list. */
  home: string;
  /** Policy columns (not the key) per backend, home included, in policy order. */
  columns: Map<string, string[]>;
  /** Backend of each policy column (key → home). */
  backendOf: Map<string, string>;
  /** Backends other than home, in policy order. */
  sides: string[];
  /** Why the dataset cannot be served (a protected row key: fragments are joined on its stored value). */
  unusable?: string;
  /** Point columns split by coordinates (points.ts): their hidden columns are placed in `columns`/`backendOf`. */
  points?: PointColumn[];
}

/** The "backend" of a point column split by coordinates: none, it is recomposed in the proxy. */
export const RECOMPOSED_ONLY = '(recomposed in the proxy)';

/** Where the hidden columns of a point split by coordinates go: X, Y on their backends, the SRID home. */
function placePoint(c: RuntimeColumn, home: string, place: (column: string, backend: string) => void): PointColumn {
  const [xBackend, yBackend] = c.coordinates as [string, string];
  const p = { column: c.name, x: `${c.name}__x`, y: `${c.name}__y`, srid: `${c.name}__srid`, xBackend, yBackend };
  place(p.x, xBackend);
  place(p.y, yBackend);
  place(p.srid, home);
  // The point itself exists only recomposed in the proxy: a condition on it is never sent to a
  // fragment (no backend is named RECOMPOSED_ONLY), the proxy's engine evaluates it.
  place(p.column, RECOMPOSED_ONLY);
  return p;
}

/** The layouts of the policy's split datasets, by `schema.table`. */
export function splitLayouts(policy: RuntimePolicy): Map<string, SplitLayout> {
  const out = new Map<string, SplitLayout>();
  for (const d of policy.datasets) {
    if (!d.columns.some((c) => c.backend !== policy.defaultBackend)) continue;
    if (!d.rowKey) throw new Error(`dataset ${d.name} splits columns but has no rowKey`);
    const columns = new Map<string, string[]>([[policy.defaultBackend, []]]);
    const backendOf = new Map<string, string>([[d.rowKey, policy.defaultBackend]]);
    const place = (column: string, backend: string): void => {
      backendOf.set(column, backend);
      if (backend !== RECOMPOSED_ONLY) columns.set(backend, [...(columns.get(backend) ?? []), column]);
    };
    const points: PointColumn[] = [];
    for (const c of d.columns) {
      if (c.name === d.rowKey) continue;
      if (c.coordinates) points.push(placePoint(c, policy.defaultBackend, place));
      else place(c.name, c.backend);
    }
    const key = d.columns.find((c) => c.name === d.rowKey);
    const unusable = key?.encrypt || key?.anonymize ? `its row key ${d.rowKey} is encrypted or anonymized (fragments are joined on the row key as stored)` : undefined;
    out.set(`${d.schema}.${d.table}`, { dataset: d.name, schema: d.schema, table: d.table, key: d.rowKey, home: policy.defaultBackend, columns, backendOf,
      sides: [...columns.keys()].filter((b) => b !== policy.defaultBackend), ...(unusable ? { unusable } : {}), ...(points.length > 0 ? { points } : {}) });
  }
  return out;
}

/** The backend that stores `column` of the layout's table: unlisted columns live at home. */
export function backendOfColumn(l: SplitLayout, column: string): string {
  return l.backendOf.get(column) ?? l.home;
}

function fragmentDataset(d: RuntimeDataset, backend: string, home: string): RuntimeDataset | null {
  const placed = d.columns.some((c) => c.backend !== home);
  if (!placed) return backend === home ? d : null;
  // A point split by coordinates is in no fragment's policy: its hidden parts are plain columns.
  const keep = d.columns.filter((c) => !c.coordinates && (c.name === d.rowKey || c.backend === backend));
  const columns = keep.map((c): RuntimeColumn => ({ ...c, backend }));
  if (d.rowKey && !columns.some((c) => c.name === d.rowKey)) columns.unshift({ name: d.rowKey, attributeType: 'technicalIdentifier', backend });
  const { rowKey, ...rest } = d;
  void rowKey;
  return { ...rest, ...(d.rowKey ? { rowKey: d.rowKey } : {}), columns };
}

/**
 * The policy as one backend's fragment sees it: split datasets keep the row key and the columns
 * placed on `backend` (none of them is split any more); unsplit datasets stay on the home backend.
 * A rewriter over this policy protects statements sent to that backend's fragments.
 */
export function fragmentPolicy(policy: RuntimePolicy, backend: string): RuntimePolicy {
  const datasets = policy.datasets.map((d) => fragmentDataset(d, backend, policy.defaultBackend)).filter((d): d is RuntimeDataset => d !== null);
  return { ...policy, defaultBackend: backend, datasets };
}

/** Protected (encrypted or anonymized) columns of every policy dataset, split or not, by `schema.table` (flows.ts). */
export function protectedColumnsOf(policy: RuntimePolicy): Map<string, Set<string>> {
  return new Map(policy.datasets.map((d) => [`${d.schema}.${d.table}`, new Set(d.columns.filter((c) => c.encrypt || c.anonymize).map((c) => c.name))]));
}
