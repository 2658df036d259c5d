// Generated files are checked in; this fails when `make generate` would change any of them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../generate.ts';
import { generatedFiles } from './outputs.ts';

describe('make generate', () => {
  const files = [...generatedFiles()];

  it('writes CRDs, Helm templates, types and the reference', () => {
    const paths = files.map(([p]) => p);
    expect(paths).toEqual(expect.arrayContaining([
      'crds/generated/securitypolicy.yaml', 'charts/clarus-operator/templates/crds/clarusproxy.yaml',
      'crds/src/generated/types.ts', 'docs/policy-reference.md',
    ]));
  });

  it.each(files.map(([p]) => [p] as const))('%s is up to date (run make generate)', async (path) => {
    const onDisk = await readFile(join(REPO_ROOT, path), 'utf8').catch(() => '<missing>');
    expect(onDisk === generatedFiles().get(path)).toBe(true);
  });

  it('Helm templates keep CRDs on uninstall and are switchable', () => {
    for (const [path, content] of files.filter(([p]) => p.startsWith('charts/'))) {
      expect(content.startsWith('{{- if .Values.crds.install }}\n'), path).toBe(true);
      expect(content.trimEnd().endsWith('{{- end }}'), path).toBe(true);
      expect(content).toContain('helm.sh/resource-policy: keep');
      expect(content.slice(30, -12)).not.toContain('{{');
    }
  });
});
