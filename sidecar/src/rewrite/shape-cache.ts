// The shape cache (issue 15): a statement text that differs from an analysed one only in literal
// values reuses that analysis, with the new values put where the old ones were in the rewritten
// text. Why this is safe, in three parts:
//  1. The key (shape.ts) is the text with canonical literals marked by class; the backend's own
//     lexer is checked to read exactly those literals when a shape is kept.
//  2. Only values in *value positions* may vary: a constant directly compared with something
//     (=, <>, <, >, <=, >=, IN, BETWEEN, IS [NOT] DISTINCT FROM), a value of an INSERT's VALUES
//     list or an UPDATE's SET, in a single SELECT/INSERT/UPDATE/DELETE. No rule decides anything
//     from such a value except to protect it (encrypt, blind-index, anonymize), and every other
//     constant (ORDER BY/GROUP BY positions, LIMIT/OFFSET, type modifiers, function arguments,
//     casts, names…) is part of the key by its exact text.
//  3. A value position becomes a slot only when the analysis carries it through untouched: the
//     text is analysed again with a unique sentinel in each slot, each sentinel must come out
//     exactly once in the rewritten text, and the template filled with the original values must
//     give exactly the original analysis (the rest of the analysis equal too). A value the rules
//     encrypt or blind-index comes out as placeholders (placeholders.ts): the text keeps the
//     original analysis' markers and the placeholders' canonical inputs are re-bound, computed
//     from the new constant as the rules computed them from the sentinel (checked to give the
//     original inputs back from the original constants). Any other use of a value in a value
//     position (an anonymized value, a keyed anonymization's placeholder) is not a slot: its exact
//     text is part of the key, and a text with another value is analysed in full.
// A two-stage plan (issue 10) gets a template the same way: its backend stage is the statement's
// text, filled and re-bound as above; its in-proxy stage (the residual SQL, the fast program, the
// write-back) is shared by every text of the template, so a value whose sentinel comes out
// anywhere in it is not a slot (its exact text is part of the key), and the probe's in-proxy stage
// must equal the original's (the rest of the analysis). The target case, a key compared in the
// pushed-down WHERE (`SELECT upper(name) … WHERE id = 42`), reuses the plan; `WHERE upper(name) =
// 'X'` (the value computed on in the proxy) does not.
// Refusals, COPY, multi-statement texts and plans the rewriter does not cache never get a template.
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { scanSync } from 'libpg-query';
import { arr, body, tagOf } from './ast.ts';
import type { Json } from './ast.ts';
import { ByteLru } from './cache.ts';
import { parseTree } from './parser.ts';
import { agreesWithLexer, byteStarts, deparsedForm, literalTexts, withLiterals } from './shape.ts';
import type { LiteralClass, Shape } from './shape.ts';
import { markerLiteral } from './placeholders.ts';
import type { Placeholder, PlaceholderPlan } from './placeholders.ts';
import type { Analysis } from './rewriter.ts';

export { shapeOf } from './shape.ts';
export type { Shape } from './shape.ts';

/**
 * A placeholder the rules made from a constant during an analysis (recorded for probes): its
 * canonical input, and `canonical` computing it for another constant.
 */
export interface ProtectedCall {
  placeholder: Placeholder;
  canon: string;
  canonical(constText: string): string;
}

/** One place in the output: literal `k` as written. */
interface Piece {
  k: number;
}

/** Placeholder `index` of the analysis takes its input from literal `k` (with `sign` before it). */
interface Rebind {
  index: number;
  k: number;
  sign: string;
  canonical(constText: string): string;
}

/** One analysis as a template: the literals at `fixed` must have the texts the template was made with. */
interface Template {
  fixed: ReadonlyArray<readonly [number, string]>;
  /** The slots' places, in output order (between `parts`). */
  slots: Piece[];
  parts: string[];
  /** The slot values are written as the deparser writes them (else as the client wrote them). */
  deparsed: boolean;
  /** Placeholders whose input comes from a slot. */
  rebinds: Rebind[];
  analysis: Analysis;
}

interface ShapeEntry {
  templates: Template[];
  /** Analyses in full of this shape that gave no usable template (bounded tries). */
  misses: number;
  fingerprint?: string;
}

export type Analyze = (sql: string) => { analysis: Analysis; cacheable: boolean; calls?: ProtectedCall[] };

const VARIANTS = 4;
const MAX_TRIES = 4;
const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);
const LIST_KINDS = new Set(['AEXPR_IN', 'AEXPR_BETWEEN', 'AEXPR_NOT_BETWEEN', 'AEXPR_BETWEEN_SYM', 'AEXPR_NOT_BETWEEN_SYM']);
const DML = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt']);

function constLocation(node: unknown): number | null {
  const c = body(node, 'A_Const');
  return c && !c.isnull && typeof c.location === 'number' ? c.location : null;
}

/** Source locations of the constants in value positions (see the header, part 2). */
export function valueLocations(stmt: unknown): Set<number> {
  const out = new Set<number>();
  const add = (n: unknown): void => {
    const l = constLocation(n);
    if (l !== null) out.add(l);
  };
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) { for (const n of node) walk(n); return; }
    if (!node || typeof node !== 'object') return;
    const t = tagOf(node);
    if (t) valuesOf(t[0], t[1], add);
    for (const v of Object.values(node)) if (v && typeof v === 'object') walk(v);
  };
  walk(stmt);
  return out;
}

function valuesOf(tag: string, b: Json, add: (n: unknown) => void): void {
  if (tag === 'A_Expr') {
    const op = arr(b.name).map((n) => body(n, 'String')?.sval).join('.');
    if ((b.kind === 'AEXPR_OP' && COMPARISONS.has(op)) || b.kind === 'AEXPR_DISTINCT' || b.kind === 'AEXPR_NOT_DISTINCT') {
      add(b.lexpr);
      add(b.rexpr);
    } else if (typeof b.kind === 'string' && LIST_KINDS.has(b.kind)) {
      add(b.lexpr);
      for (const i of arr(body(b.rexpr, 'List')?.items)) add(i);
    }
  } else if (tag === 'InsertStmt') {
    for (const row of arr(body(b.selectStmt, 'SelectStmt')?.valuesLists)) for (const i of arr(body(row, 'List')?.items)) add(i);
  } else if (tag === 'UpdateStmt') {
    for (const t of arr(b.targetList)) add(body(t, 'ResTarget')?.val);
  }
}

/** Index of the literal each value location belongs to (a negative constant starts at its sign). */
function slotCandidates(sql: string, shape: Shape, stmt: unknown): number[] {
  const locations = valueLocations(stmt);
  const starts = byteStarts(sql, shape);
  const out: number[] = [];
  for (const [k, start] of starts.entries()) {
    const l = shape.literals[k];
    if (!l) continue;
    let before = l.start;
    while (before > 0 && /\s/.test(sql.charAt(before - 1))) before--;
    const signed = l.cls !== 's' && sql.charAt(before - 1) === '-' ? start - Buffer.byteLength(sql.slice(before - 1, l.start)) : -1;
    if (locations.has(start) || locations.has(signed)) out.push(k);
  }
  return out;
}

/** A sentinel per class: unique in the text, and not part of any longer token in the output. */
function sentinel(seed: string, k: number, cls: LiteralClass): string {
  const n = parseInt(seed.slice(0, 6), 16);
  switch (cls) {
    case 'i': return String(1_100_000_000 + ((n * 131 + k * 7919) % 900_000_000));
    case 'F': return `81${String(n).padStart(8, '0')}${String(k).padStart(6, '0')}`;
    case 'f': return `${n + 100_000}.${String(k + 1).padStart(4, '0')}7`;
    case 's': return `'clarus_${seed}_${k}'`;
  }
}

/** Every position of `needle` in `text` not glued to a longer number or name. */
function occurrences(text: string, needle: string): number[] {
  const out: number[] = [];
  const glued = (c: string): boolean => /[0-9A-Za-z_.$]/.test(c);
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    if (needle.startsWith("'") || (!glued(text.charAt(at - 1)) && !glued(text.charAt(at + needle.length)))) out.push(at);
  }
  return out;
}

function withoutSql(a: Analysis): unknown {
  return a.kind === 'plan' ? { ...a, statements: a.statements.map((s) => ({ ...s, sql: '' })), placeholders: undefined } : a;
}

/** The in-proxy stage of a two-stage plan as text ('' for a plan in one stage). */
function inProxyStage(a: Extract<Analysis, { kind: 'plan' }>): string {
  return a.statements.map((s) => (s.residual ? JSON.stringify(s.residual) : '')).join('');
}

/** The constant's text as the rules see it (a standard string without its quotes). */
function constText(raw: string, cls: LiteralClass): string {
  return cls === 's' ? raw.slice(1, -1).replaceAll("''", "'") : raw;
}

/** The template's text with the slots' values. */
function fill(t: Template, shape: Shape, texts: readonly string[]): string {
  let out = t.parts[0] as string;
  for (const [i, p] of t.slots.entries()) {
    const text = texts[p.k] as string;
    const plain = t.deparsed ? deparsedForm(text, (shape.literals[p.k] as { cls: LiteralClass }).cls) : text;
    out += plain + (t.parts[i + 1] as string);
  }
  return out;
}

/** The placeholders with the inputs of the re-bound ones computed from the texts' literals (throws where the rules would refuse). */
function rebound(plan: PlaceholderPlan, rebinds: readonly Rebind[], shape: Shape, texts: readonly string[]): PlaceholderPlan {
  const list = [...plan.list];
  for (const r of rebinds) {
    const p = list[r.index] as Placeholder & { kind: 'cipher' };
    const cls = (shape.literals[r.k] as { cls: LiteralClass }).cls;
    list[r.index] = { ...p, canon: r.canonical(r.sign + constText(texts[r.k] as string, cls)) };
  }
  return { nonce: plan.nonce, list };
}

/** Throws when a new value cannot be protected (its canonical form is invalid): the caller analyses in full. */
function instantiate(t: Template, shape: Shape, texts: readonly string[]): Analysis {
  const a = t.analysis;
  if (a.kind !== 'plan') return a;
  const s = a.statements[0];
  if (!s) return a;
  const placeholders = a.placeholders ? { placeholders: rebound(a.placeholders, t.rebinds, shape, texts) } : {};
  return { ...a, statements: [{ ...s, sql: fill(t, shape, texts) }], ...placeholders };
}

/** The same placeholder but for its id and input. */
function samePlace(a: Placeholder, b: Placeholder): boolean {
  return isDeepStrictEqual({ ...a, id: 0, canon: '', text: '' }, { ...b, id: 0, canon: '', text: '' });
}

function inputOf(p: Placeholder): string {
  return p.kind === 'cipher' ? p.canon : p.text;
}

/** What the in-proxy stage of an analysis holds (for the cache's weight). */
function stageLength(a: Analysis): number {
  return a.kind === 'plan' ? inProxyStage(a).length : 0;
}

/** What the placeholders' inputs of an analysis hold (for the cache's weight). */
function inputsLength(a: Analysis): number {
  return a.kind === 'plan' ? (a.placeholders?.list ?? []).reduce((n, p) => n + inputOf(p).length + 64, 0) : 0;
}

/**
 * The probe's output with its placeholder markers replaced by the original analysis' (the same
 * placeholders made in the same order), or null when they do not correspond one to one.
 */
function withMarkersOf(out: string, probe: PlaceholderPlan | undefined, original: PlaceholderPlan | undefined): string | null {
  const q = probe?.list ?? [];
  const p = original?.list ?? [];
  if (q.length !== p.length) return null;
  let text = out;
  for (const [i, x] of q.entries()) {
    const y = p[i] as Placeholder;
    if (!samePlace(x, y)) return null;
    const parts = text.split(markerLiteral((probe as PlaceholderPlan).nonce, x.id));
    if (parts.length !== 2) return null;
    text = parts.join(markerLiteral((original as PlaceholderPlan).nonce, y.id));
  }
  return text;
}

export class ShapeCache {
  private readonly entries: ByteLru<ShapeEntry>;
  private readonly seed = randomBytes(8).toString('hex');
  readonly stats = { hits: 0, templates: 0, rejected: 0 };

  constructor(budgetBytes: number) {
    this.entries = new ByteLru(budgetBytes);
  }

  clear(): void { this.entries.clear(); }

  /** The analysis of `sql` from a template of its shape, or null. */
  lookup(prefix: string, sql: string, shape: Shape): Analysis | null {
    const e = this.entries.get(prefix + shape.key);
    if (!e) return null;
    const texts = literalTexts(sql, shape);
    const t = e.templates.find((x) => x.fixed.every(([k, v]) => texts[k] === v));
    if (!t) return null;
    let a: Analysis;
    try {
      a = instantiate(t, shape, texts);
    } catch {
      return null;
    }
    this.stats.hits++;
    return a;
  }

  /** The audit fingerprint of a text whose shape was analysed (constants do not change it). */
  fingerprint(prefix: string, shape: Shape, compute: () => string): string | undefined {
    const e = this.entries.get(prefix + shape.key);
    if (!e || e.templates.length === 0) return undefined;
    e.fingerprint ??= compute();
    return e.fingerprint;
  }

  /**
   * After an analysis in full of `sql`: keeps a template of it when its shape was seen before
   * (a text seen once costs no extra analysis) and the checks of the header hold.
   */
  learn(prefix: string, sql: string, shape: Shape, analysis: Analysis, analyze: Analyze): void {
    const key = prefix + shape.key;
    const e = this.entries.get(key);
    if (!e) {
      this.entries.set(key, { templates: [], misses: 0 }, 64);
      return;
    }
    if (e.misses >= MAX_TRIES) return;
    const t = this.template(sql, shape, analysis, analyze);
    if (!t) {
      e.misses++;
      this.stats.rejected++;
      return;
    }
    this.stats.templates++;
    e.templates = [t, ...e.templates].slice(0, VARIANTS);
    if (e.templates.length === VARIANTS) e.misses++;
    this.entries.set(key, e, e.templates.reduce((n, x) => n + (x.parts.join('').length + inputsLength(x.analysis) + stageLength(x.analysis)) * 2 + 512, shape.key.length * 2));
  }

  private template(sql: string, shape: Shape, analysis: Analysis, analyze: Analyze): Template | null {
    if (analysis.kind === 'refuse' || analysis.schemaChange) return null;
    if (analysis.kind === 'plan' && (analysis.statements.length !== 1 || analysis.statements.some((s) => s.copy))) return null;
    let parsed;
    try {
      if (!agreesWithLexer(sql, shape, scanSync(sql).tokens)) return null;
      parsed = parseTree(sql).statements;
    } catch {
      return null;
    }
    const stmt = parsed.length === 1 ? parsed[0]?.stmt : undefined;
    if (!stmt || !DML.has(tagOf(stmt)?.[0] ?? '')) return null;
    let candidates = slotCandidates(sql, shape, stmt);
    for (let round = 0; round < 3; round++) {
      const r = this.tryTemplate(sql, shape, analysis, candidates, analyze);
      if (!Array.isArray(r)) return r;
      candidates = r;
    }
    return null;
  }

  /** A template with these slots, or the candidates left when some sentinel did not come out once. */
  private tryTemplate(sql: string, shape: Shape, analysis: Analysis, candidates: number[], analyze: Analyze): Template | null | number[] {
    const texts = literalTexts(sql, shape);
    const sentinels = new Map(candidates.map((k) => [k, sentinel(this.seed, k, (shape.literals[k] as { cls: LiteralClass }).cls)]));
    if ([...sentinels.values()].some((s) => sql.includes(s))) return null;
    const probe = analyze(withLiterals(sql, shape, sentinels));
    if (!probe.cacheable || probe.analysis.kind !== analysis.kind) return null;
    const fixed = texts.map((v, k) => [k, v] as const).filter(([k]) => !sentinels.has(k));
    const base = { fixed, analysis };
    if (analysis.kind !== 'plan' || probe.analysis.kind !== 'plan') {
      return isDeepStrictEqual(probe.analysis, analysis) ? { ...base, slots: [], parts: [], deparsed: false, rebinds: [] } : null;
    }
    const out = withMarkersOf((probe.analysis.statements[0] as { sql: string }).sql, probe.analysis.placeholders, analysis.placeholders);
    if (out === null) return null;
    const probeList = probe.analysis.placeholders?.list ?? [];
    const calls = (probe.calls ?? []).filter((c) => probeList.includes(c.placeholder));
    const places: Array<{ at: number; length: number; piece: Piece }> = [];
    const rebinds: Rebind[] = [];
    const kept: number[] = [];
    const stage = inProxyStage(probe.analysis);
    for (const k of candidates) {
      const s = sentinels.get(k) as string;
      // A value the in-proxy stage holds is not re-bound there: it stays in the key.
      if (stage.includes(constText(s, (shape.literals[k] as { cls: LiteralClass }).cls))) continue;
      const mine = this.slotPlaces(out, k, shape, s, calls);
      if (!mine) continue;
      kept.push(k);
      if (!Array.isArray(mine)) places.push(mine);
      else rebinds.push(...mine.map((r) => ({ ...r, index: probeList.indexOf(r.index) })));
    }
    if (kept.length !== candidates.length) return kept;
    const parts = partsOf(out, places);
    const stmt = analysis.statements[0] as { sql: string; changed: boolean };
    if (!parts || !rebindsHold(analysis.placeholders, probeList, rebinds, { shape, texts })) return null;
    const t: Template = { ...base, slots: places.sort((a, b) => a.at - b.at).map((p) => p.piece), parts, deparsed: stmt.changed, rebinds };
    return fill(t, shape, texts) === stmt.sql && isDeepStrictEqual(withoutSql(probe.analysis), withoutSql(analysis)) ? t : null;
  }

  /**
   * Where slot `k`'s sentinel came out in the probe's output: once as written, or (a protected
   * value) as the input of placeholders, every one re-bound from it (index: the placeholder); null
   * when neither.
   */
  private slotPlaces(out: string, k: number, shape: Shape, s: string, calls: ProtectedCall[]): { at: number; length: number; piece: Piece } | Array<Omit<Rebind, 'index'> & { index: Placeholder }> | null {
    const cls = (shape.literals[k] as { cls: LiteralClass }).cls;
    const plain = occurrences(out, s);
    const signs = cls === 's' ? [''] : ['', '-'];
    const mine: Array<Omit<Rebind, 'index'> & { index: Placeholder }> = [];
    for (const call of calls) {
      const sign = signs.find((g) => { try { return call.canonical(g + constText(s, cls)) === call.canon; } catch { return false; } });
      if (sign !== undefined) mine.push({ index: call.placeholder, k, sign, canonical: call.canonical });
    }
    if (mine.length === 0) return plain.length === 1 ? { at: plain[0] as number, length: s.length, piece: { k } } : null;
    return plain.length === 0 ? mine : null;
  }
}

/** The output cut at the slots' places (null when two overlap). */
function partsOf(out: string, places: ReadonlyArray<{ at: number; length: number }>): string[] | null {
  const parts: string[] = [];
  let at = 0;
  for (const p of [...places].sort((a, b) => a.at - b.at)) {
    if (p.at < at) return null;
    parts.push(out.slice(at, p.at));
    at = p.at + p.length;
  }
  parts.push(out.slice(at));
  return parts;
}

/**
 * Whether the placeholders correspond: a re-bound one gives the original input from the original
 * constant, every other has the same input in the probe as in the original (it depends on no slot).
 */
function rebindsHold(original: PlaceholderPlan | undefined, probe: readonly Placeholder[], rebinds: readonly Rebind[], { shape, texts }: { shape: Shape; texts: readonly string[] }): boolean {
  const list = original?.list ?? [];
  if (rebinds.some((r) => r.index < 0) || new Set(rebinds.map((r) => r.index)).size !== rebinds.length) return false;
  const bound = new Set(rebinds.map((r) => r.index));
  if (list.some((p, i) => !bound.has(i) && inputOf(p) !== inputOf(probe[i] as Placeholder))) return false;
  if (!original) return rebinds.length === 0;
  try {
    return isDeepStrictEqual(rebound(original, rebinds, shape, texts), original);
  } catch {
    return false;
  }
}
