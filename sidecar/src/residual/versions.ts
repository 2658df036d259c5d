// Functions whose results differ between the backend and the engine (PostgreSQL 18 compiled to
// WebAssembly, with musl's libm), found by the differential test
// (sidecar/test/integration/residual-differential.test.ts) and checked over 3,000 random values
// each. Listed by name, so the numeric forms of exp/ln/log (PostgreSQL's own arithmetic, which
// matched) are refused with the float8 ones. The caller must not evaluate them in the residual
// stage for such a backend: push them down when their arguments are stored in the clear, refuse
// otherwise.

export interface EngineDifference {
  /** Backend majors that answer differently from the engine; 'all' = every backend. */
  majors: readonly number[] | 'all';
  what: string;
}

const LIBM = 'the float8 result comes from the C math library, and musl (engine) and glibc (backend) differ in the last digit for some arguments (measured: cbrt 1,403 of 3,000 values, atan2 127, sin 82, exp 3, power 3; ln and sqrt none)';

export const ENGINE_DIFFERENCES: ReadonlyMap<string, EngineDifference> = new Map<string, EngineDifference>([
  ['power', { majors: 'all', what: 'power(numeric, integral numeric) prints another scale since PostgreSQL 16 (15: 2500.0000000000000000, 18: 2500.0000000000000); power(float8): ' + LIBM }],
  ...['cbrt', 'exp', 'ln', 'log', 'log10', 'sin', 'cos', 'tan', 'cot', 'asin', 'acos', 'atan', 'atan2', 'sinh', 'cosh', 'tanh', 'asinh', 'acosh', 'atanh',
    'sind', 'cosd', 'tand', 'cotd', 'asind', 'acosd', 'atand', 'atan2d', 'erf', 'erfc', 'gamma', 'lgamma']
    .map((f): [string, EngineDifference] => [f, { majors: 'all', what: `${f}(float8): ${LIBM}` }]),
]);

/** Function names (lower case) the residual stage must not evaluate for a backend major. */
export function differingFunctions(serverMajor: number): Set<string> {
  const out = new Set<string>();
  for (const [name, d] of ENGINE_DIFFERENCES) if (d.majors === 'all' || d.majors.includes(serverMajor)) out.add(name);
  return out;
}

/** Test helper: whether a statement's text calls one of them (by name, before a parenthesis). */
export function usesEngineDifference(sql: string, serverMajor: number): boolean {
  for (const name of differingFunctions(serverMajor)) if (new RegExp(`\\b${name}\\s*\\(`, 'i').test(sql)) return true;
  return false;
}
