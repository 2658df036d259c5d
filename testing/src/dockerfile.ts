// The image's recipe read the way a container builder reads it, for a build without a container
// engine (e2e/test/image-build.test.ts; this machine has none): the Dockerfile's stages and steps,
// and the .dockerignore rules deciding which context files COPY can see. Only what the project's
// Dockerfile uses is understood; anything else is an error, not a guess.

export type Step =
  | { op: 'WORKDIR'; path: string }
  | { op: 'COPY'; from?: string; sources: string[]; dest: string }
  | { op: 'RUN'; command: string }
  | { op: 'ENV'; name: string; value: string }
  | { op: 'USER'; user: string }
  | { op: 'EXPOSE'; ports: string[] }
  | { op: 'ENTRYPOINT'; argv: string[] };

export interface Stage {
  /** The image or earlier stage it starts from. */
  from: string;
  name?: string;
  steps: Step[];
}

/** Instructions joined across `\` line ends, comments and blank lines dropped. */
function instructions(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && (/^\s*#/.test(line) || line.trim() === '')) continue;
    if (line.endsWith('\\')) { current += `${line.slice(0, -1)} `; continue; }
    out.push((current + line).trim());
    current = '';
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** The stages of a Dockerfile, in order. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions(text)) {
    const m = /^(\w+)\s+(.*)$/s.exec(ins);
    if (!m) throw new Error(`Dockerfile: cannot read ${JSON.stringify(ins)}`);
    const op = (m[1] as string).toUpperCase();
    const rest = (m[2] as string).trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f) throw new Error(`Dockerfile: FROM ${rest} not understood`);
      stages.push({ from: f[1] as string, ...(f[2] ? { name: f[2] } : {}), steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${op} before FROM`);
    stage.steps.push(step(op, rest));
  }
  return stages;
}

function step(op: string, rest: string): Step {
  switch (op) {
    case 'WORKDIR': return { op, path: rest };
    case 'RUN': return { op, command: rest };
    case 'USER': return { op, user: rest };
    case 'EXPOSE': return { op, ports: rest.split(/\s+/) };
    case 'ENTRYPOINT': {
      const argv = JSON.parse(rest) as unknown;
      if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new Error('Dockerfile: ENTRYPOINT must be an exec-form list');
      return { op, argv };
    }
    case 'ENV': {
      const e = /^([A-Za-z_]\w*)=(\S*)$/.exec(rest);
      if (!e) throw new Error(`Dockerfile: ENV ${rest} not understood (one NAME=value)`);
      return { op, name: e[1] as string, value: e[2] as string };
    }
    case 'COPY': {
      const words = rest.split(/\s+/);
      let from: string | undefined;
      while (words[0]?.startsWith('--')) {
        const flag = words.shift() as string;
        const f = /^--from=(\S+)$/.exec(flag);
        if (!f) throw new Error(`Dockerfile: COPY ${flag} not understood`);
        from = f[1];
      }
      if (words.length < 2) throw new Error(`Dockerfile: COPY ${rest} needs a source and a destination`);
      return { op, ...(from ? { from } : {}), sources: words.slice(0, -1), dest: words.at(-1) as string };
    }
    default: throw new Error(`Dockerfile: ${op} is not understood by this reader`);
  }
}

/** A .dockerignore pattern as a regular expression over slash-separated context paths. */
function patternRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` any number of directories (none included); a trailing `**` anything.
      if (pattern[i + 2] === '/') { re += '(?:.*/)?'; i += 2; } else { re += '.*'; i += 1; }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') throw new Error(`.dockerignore: character classes are not understood (${pattern})`);
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether a context path (relative, slash-separated) is left out of the build context. As the
 * builder does: the last pattern matching the path or one of its parent folders decides, a `!`
 * pattern lets it back in.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const exception = l.startsWith('!');
    const pattern = (exception ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
    return { exception, re: patternRegex(pattern) };
  });
  return (path: string): boolean => {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.exception;
    return ignored;
  };
}
