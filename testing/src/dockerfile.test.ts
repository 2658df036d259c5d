import { describe, expect, it } from 'vitest';
import { dockerignore, parseDockerfile } from './dockerfile.ts';

describe('parseDockerfile', () => {
  it('reads stages, continued lines, COPY --from and the exec-form entrypoint', () => {
    const stages = parseDockerfile([
      '# comment', 'FROM node:24-slim AS base', 'WORKDIR /app', 'COPY a.json b.json ./',
      'RUN apt-get update && \\', '  apt-get install -y gcc', '',
      'FROM base', 'ENV NODE_ENV=production', 'COPY --from=base /app/x x', 'USER 1000:1000',
      'EXPOSE 5432 8080', 'ENTRYPOINT ["cli/bin/clarus"]',
    ].join('\n'));
    expect(stages).toHaveLength(2);
    expect(stages[0]).toEqual({ from: 'node:24-slim', name: 'base', steps: [
      { op: 'WORKDIR', path: '/app' },
      { op: 'COPY', sources: ['a.json', 'b.json'], dest: './' },
      { op: 'RUN', command: 'apt-get update &&    apt-get install -y gcc' },
    ] });
    expect(stages[1]?.steps).toEqual([
      { op: 'ENV', name: 'NODE_ENV', value: 'production' },
      { op: 'COPY', from: 'base', sources: ['/app/x'], dest: 'x' },
      { op: 'USER', user: '1000:1000' },
      { op: 'EXPOSE', ports: ['5432', '8080'] },
      { op: 'ENTRYPOINT', argv: ['cli/bin/clarus'] },
    ]);
  });

  it('refuses what it does not model instead of guessing', () => {
    expect(() => parseDockerfile('FROM x\nADD a b')).toThrow(/ADD is not understood/);
    expect(() => parseDockerfile('FROM x\nCOPY --chown=1 a b')).toThrow(/--chown/);
    expect(() => parseDockerfile('FROM x\nENTRYPOINT clarus proxy')).toThrow();
    expect(() => parseDockerfile('RUN true')).toThrow(/before FROM/);
  });
});

describe('dockerignore', () => {
  const ignored = dockerignore(['# c', 'node_modules', '**/node_modules', 'scripts', '!scripts/build-js.ts', '**/*.test.ts', 'e2e/src', '/build/'].join('\n'));

  it('leaves out a folder and everything in it, anchored at the context root', () => {
    expect(ignored('node_modules')).toBe(true);
    expect(ignored('node_modules/pg/index.js')).toBe(true);
    expect(ignored('sidecar/node_modules/x.js')).toBe(true);
    expect(ignored('build/js/a.js')).toBe(true);
    expect(ignored('e2e/src/a.ts')).toBe(true);
    expect(ignored('e2e/package.json')).toBe(false);
    expect(ignored('sidecar/build/a.js')).toBe(false);
  });

  it('lets an exception back in, only what it names', () => {
    expect(ignored('scripts/build-js.ts')).toBe(false);
    expect(ignored('scripts/build-native.sh')).toBe(true);
  });

  it('matches ** across folders and * within one', () => {
    expect(ignored('sidecar/src/a.test.ts')).toBe(true);
    expect(ignored('a.test.ts')).toBe(true);
    expect(ignored('sidecar/src/a.ts')).toBe(false);
  });
});
