// A small argv parser: repeated options collect into lists, `--name=value` and `--name value` both work.
export interface ParsedArgs { positional: string[]; options: Map<string, string[]>; flags: Set<string> }

export function parseArgs(argv: string[], withValue: readonly string[]): ParsedArgs | string {
  const out: ParsedArgs = { positional: [], options: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (!a.startsWith('-') || a === '-') {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!withValue.includes(name)) {
      out.flags.add(name);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) return `option ${name} needs a value`;
    out.options.set(name, [...(out.options.get(name) ?? []), value]);
  }
  return out;
}

export function one(args: ParsedArgs, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = args.options.get(n);
    if (v && v.length > 0) return v[v.length - 1];
  }
  return undefined;
}

export function many(args: ParsedArgs, ...names: string[]): string[] {
  return names.flatMap((n) => args.options.get(n) ?? []);
}

export interface Io { out: (s: string) => void; err: (s: string) => void }

export const processIo: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};
