// The per-row evaluator of a fast plan (rewrite/two-stage/fast-path.ts): PostgreSQL's semantics
// of the allowlisted expressions, for the candidate types where they are known exactly, over text
// values. `compileFast` types the plan for one candidate type signature as PostgreSQL resolves it
// (null: not known exactly, the engine answers), which gives the RowDescription without asking the
// engine (test/integration/two-stage-fast.test.ts compares it with the engine's and PostgreSQL's). A value the evaluator cannot be sure of (case mapping of anything
// but ASCII, which depends on the backend's LC_CTYPE) yields FALLBACK: the caller runs the whole
// batch in the engine.
import type { FastExpr, FastPlan } from '../rewrite/two-stage/fast-path.ts';

export const FALLBACK: unique symbol = Symbol('fallback');
type Value = string | null | typeof FALLBACK;
type Row = ReadonlyArray<string | null>;
type Fn = (row: Row) => Value;
/** A type OID, or 'unknown' (a string literal or NULL, typed by its context). */
type Ty = number | 'unknown';
interface Compiled { ty: Ty; fn: Fn }

const BOOL = 16;
const INT8 = 20;
const INT2 = 21;
const INT4 = 23;
const TEXT = 25;
const BPCHAR = 1042;
const VARCHAR = 1043;

/** String types whose values the evaluator computes on. */
const STRINGS: ReadonlySet<number> = new Set([TEXT, VARCHAR, BPCHAR]);
/**
 * Candidate types shown unchanged: their text form read and printed again by PostgreSQL under the
 * same settings is the same text (no time zone, style or float digits involved).
 */
const SHOWN: ReadonlySet<number> = new Set([BOOL, INT8, INT2, INT4, TEXT, VARCHAR, BPCHAR]);

const ASCII = /^[\x00-\x7f]*$/;

/** bpchar → text (and every other string type): trailing spaces are not part of the value (rtrim1). */
function unpad(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 32) end -= 1;
  return end === s.length ? s : s.slice(0, end);
}

/** Characters (code points), as PostgreSQL counts them in UTF8. */
export function characters(s: string): number {
  if (ASCII.test(s)) return s.length;
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}

const isString = (t: Ty): boolean => t === 'unknown' || STRINGS.has(t);
/** A string-typed value that is not a bare literal: a literal's type would come from overload resolution alone. */
const isTyped = (c: Compiled | null): c is Compiled => c !== null && c.ty !== 'unknown' && STRINGS.has(c.ty);

/** A string expression's value as text (PostgreSQL's implicit cast to text). */
function asText(c: Compiled): Fn {
  if (c.ty !== BPCHAR) return c.fn;
  const f = c.fn;
  return (row) => {
    const v = f(row);
    return typeof v === 'string' ? unpad(v) : v;
  };
}

/** upper/lower of ASCII text: PostgreSQL maps only a–z / A–Z there in the locales the proxy accepts (C, builtin C.UTF-8). */
function caseMap(to: 'upper' | 'lower', f: Fn): Fn {
  return (row) => {
    const v = f(row);
    if (typeof v !== 'string') return v;
    if (!ASCII.test(v)) return FALLBACK;
    return to === 'upper' ? v.toUpperCase() : v.toLowerCase();
  };
}

function length(arg: Compiled): Compiled | null {
  // length('literal') resolves among several overloads: left to the engine.
  if (arg.ty === 'unknown' || !STRINGS.has(arg.ty)) return null;
  const f = asText(arg);
  return { ty: INT4, fn: (row) => { const v = f(row); return typeof v === 'string' ? String(characters(v)) : v; } };
}

function concat(left: Compiled, right: Compiled): Compiled | null {
  // A literal only beside a string value: unknown || unknown is left to the engine.
  if (!isString(left.ty) || !isString(right.ty) || (left.ty === 'unknown' && right.ty === 'unknown')) return null;
  const l = asText(left);
  const r = asText(right);
  return {
    ty: TEXT,
    fn: (row) => {
      const a = l(row);
      const b = r(row);
      if (a === FALLBACK || b === FALLBACK) return FALLBACK;
      return a === null || b === null ? null : a + b;
    },
  };
}

/** coalesce of one string type (or literals only: text); mixed types are left to the engine. */
function coalesce(args: Compiled[]): Compiled | null {
  const known = new Set<number>();
  for (const a of args) if (a.ty !== 'unknown') known.add(a.ty);
  const ty = known.size === 0 ? TEXT : [...known][0];
  if (known.size > 1 || ty === undefined || !STRINGS.has(ty)) return null;
  const fns = args.map((a) => a.fn);
  return {
    ty,
    fn: (row) => {
      for (const f of fns) {
        const v = f(row);
        if (v !== null) return v;
      }
      return null;
    },
  };
}

function column(index: number, types: readonly number[]): Compiled | null {
  const ty = types[index];
  return ty !== undefined && SHOWN.has(ty) ? { ty, fn: (row) => row[index] ?? null } : null;
}

/** A string function of one string value (not a bare literal), of type text. */
function textOf(arg: Compiled | null, f: (text: Fn) => Fn): Compiled | null {
  return isTyped(arg) ? { ty: TEXT, fn: f(asText(arg)) } : null;
}

function compile(e: FastExpr, types: readonly number[]): Compiled | null {
  switch (e.k) {
    case 'column': return column(e.index, types);
    case 'literal': return { ty: 'unknown', fn: () => e.value };
    case 'case': return textOf(compile(e.arg, types), (f) => caseMap(e.to, f));
    case 'length': return withArgs([e.arg], types, ([a]) => length(a as Compiled));
    case 'concat': return withArgs([e.left, e.right], types, ([a, b]) => concat(a as Compiled, b as Compiled));
    case 'coalesce': return withArgs(e.args, types, coalesce);
    case 'text': return textOf(compile(e.arg, types), (f) => f);
  }
}

function withArgs(args: readonly FastExpr[], types: readonly number[], then: (c: Compiled[]) => Compiled | null): Compiled | null {
  const compiled = args.map((a) => compile(a, types));
  return compiled.every((c) => c !== null) ? then(compiled as Compiled[]) : null;
}

/** A fast plan typed for candidate columns of `types`: the result fields and the row function. */
export interface FastProgram {
  /**
   * The fields the engine describes for the same statement: the select list's names, the types
   * PostgreSQL resolves, and no type modifier (the engine's candidate columns declare none).
   */
  fields: Array<{ name: string; typeOid: number; typmod: number }>;
  row(row: Row): Array<string | null> | typeof FALLBACK;
}

/** The plan for these candidate types, or null when its semantics are not known exactly for them. */
export function compileFast(plan: FastPlan, types: readonly number[]): FastProgram | null {
  const outs = plan.outputs.map((e) => compile(e, types));
  if (!outs.every((c) => c !== null)) return null;
  const cs = outs as Compiled[];
  const fns = cs.map((c) => c.fn);
  return {
    // A bare literal or NULL in the select list is text.
    fields: cs.map((c, i) => ({ name: plan.names[i] ?? '?column?', typeOid: c.ty === 'unknown' ? TEXT : c.ty, typmod: -1 })),
    row: (row) => {
      const out: Array<string | null> = new Array<string | null>(fns.length);
      for (let i = 0; i < fns.length; i++) {
        const v = (fns[i] as Fn)(row);
        if (v === FALLBACK) return FALLBACK;
        out[i] = v;
      }
      return out;
    },
  };
}

/** Every row through the program, or FALLBACK when one value is not certain. */
export function runFast(p: FastProgram, rows: readonly Row[]): Array<Array<string | null>> | typeof FALLBACK {
  const out: Array<Array<string | null>> = [];
  for (const r of rows) {
    const v = p.row(r);
    if (v === FALLBACK) return FALLBACK;
    out.push(v);
  }
  return out;
}
