// CLARUS 1.0 attribute names and the tables they reach. CLARUS accepts `col` (that column in any
// table), `table/col`, `db/table/col` and `db/schema.table/col`, with `*` in any part (a glob).
// A SecurityPolicy names tables and columns literally, so a pattern is expanded at import against
// an explicit list of tables (`--table`, `--catalog`): the import never guesses a table. Pure.

/** A parsed attribute name. `schema` undefined: the name gave none (CLARUS: any schema). */
export interface NamePattern { db?: string; schema?: string; table: string; column: string }

/** One table the user listed, with its columns when they are known. */
export interface CatalogTable { schema: string; table: string; columns?: string[] }

/** A concrete column an attribute reaches. `schema` undefined: as clients name it (search path). */
export interface ResolvedColumn { schema?: string; table: string; column: string }

export type Resolution =
  | { ok: true; columns: ResolvedColumn[]; note?: string }
  | { ok: false; reason: string };

export const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** `[db/][schema.]table/column` or a bare column; undefined when the name has another shape. */
export function parseName(name: string): NamePattern | string {
  const parts = name.trim().split('/');
  if (parts.some((p) => p === '')) return `attribute name "${name}" has an empty part`;
  if (parts.length > 3) return `attribute name "${name}" has ${parts.length} parts; CLARUS names are col, table/col, db/table/col or db/schema.table/col`;
  const column = parts[parts.length - 1] as string;
  if (parts.length === 1) return { schema: '*', table: '*', column };
  const qualified = parts[parts.length - 2] as string;
  const db = parts.length === 3 ? parts[0] : undefined;
  const where = qualifiedTable(qualified);
  if (!where) return `attribute name "${name}": table "${qualified}" has more than one dot`;
  return { ...(db !== undefined ? { db } : {}), ...where, column };
}

/** `schema.table` or `table`; undefined with more than one dot. */
function qualifiedTable(qualified: string): { schema?: string; table: string } | undefined {
  const [first, second, ...rest] = qualified.split('.');
  if (rest.length > 0) return undefined;
  return second === undefined ? { table: first as string } : { schema: first as string, table: second };
}

const isGlob = (s: string | undefined): boolean => s !== undefined && s.includes('*');

function glob(pattern: string): RegExp {
  const body = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, 'i');
}

/** Whether the name needs a table list to be resolved (a `*` in the schema, table or column). */
export function needsCatalog(p: NamePattern): boolean {
  return isGlob(p.schema) || isGlob(p.table) || isGlob(p.column);
}

function matchTables(p: NamePattern, catalog: CatalogTable[]): CatalogTable[] {
  const schema = glob(p.schema ?? '*');
  const table = glob(p.table);
  return catalog.filter((t) => schema.test(t.schema) && table.test(t.table));
}

function columnsOf(p: NamePattern, t: CatalogTable): ResolvedColumn[] | undefined {
  if (!isGlob(p.column)) {
    if (t.columns && !t.columns.some((c) => c.toLowerCase() === p.column.toLowerCase())) return [];
    return [{ schema: t.schema, table: t.table, column: p.column }];
  }
  if (!t.columns) return undefined;
  const re = glob(p.column);
  return t.columns.filter((c) => re.test(c)).map((column) => ({ schema: t.schema, table: t.table, column }));
}

function shown(t: CatalogTable): string {
  return `${t.schema}.${t.table}`;
}

/**
 * The columns an attribute name reaches. A literal `table/col` is that table as clients name it
 * (unless the list holds tables of that name, then every one of them); a pattern needs the list.
 */
export function resolveName(p: NamePattern, catalog: CatalogTable[] | undefined): Resolution {
  if (!needsCatalog(p)) {
    const listed = p.schema === undefined && catalog ? matchTables(p, catalog) : [];
    if (listed.length > 0) {
      return { ok: true, columns: listed.map((t) => ({ schema: t.schema, table: t.table, column: p.column })), note: `table ${p.table} (any schema in CLARUS) → ${listed.map(shown).join(', ')} from the table list` };
    }
    return { ok: true, columns: [{ ...(p.schema !== undefined ? { schema: p.schema } : {}), table: p.table, column: p.column }] };
  }
  if (!catalog) return { ok: false, reason: 'a pattern; give the tables it means with --table SCHEMA.TABLE[:COL,…] or --catalog FILE' };
  const tables = matchTables(p, catalog);
  const out: ResolvedColumn[] = [];
  for (const t of tables) {
    const cols = columnsOf(p, t);
    if (!cols) return { ok: false, reason: `column pattern "${p.column}" needs the columns of ${shown(t)}; list them (--table ${shown(t)}:COL,…)` };
    out.push(...cols);
  }
  const where = tables.length === 0 ? 'no listed table' : tables.map(shown).join(', ');
  return { ok: true, columns: out, note: `pattern expanded against the table list: ${out.length} column(s) in ${where}` };
}

/** `schema.table`, `table` (schema public) or either with `:col,col`; undefined when malformed. */
export function parseTableSpec(spec: string): CatalogTable | undefined {
  const [qualified = '', cols] = spec.trim().split(':', 2);
  const parts = qualified.split('.');
  if (parts.length > 2 || !parts.every((x) => IDENT.test(x))) return undefined;
  const columns = cols === undefined ? undefined : cols.split(',').map((c) => c.trim()).filter(Boolean);
  if (columns && columns.length === 0) return undefined;
  const [schema, table] = parts.length === 2 ? parts as [string, string] : ['public', parts[0] as string];
  return { schema, table, ...(columns ? { columns } : {}) };
}

/** A catalog file: one table spec a line (`schema.table:col,col`); `#` starts a comment. */
export function parseCatalog(text: string): CatalogTable[] | string {
  const out: CatalogTable[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const t = parseTableSpec(line.replace(/\s+/g, ''));
    if (!t) return `line ${i + 1}: "${line}" is not SCHEMA.TABLE[:COL,COL…]`;
    out.push(t);
  }
  return out;
}
