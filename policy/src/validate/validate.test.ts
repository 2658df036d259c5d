// Validation messages: each bad fixture (policy/test/fixtures/bad/*.yaml) states in its first line the
// resource, field path and reason it must be rejected with; the examples must be valid.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import { formatIssue, validateManifests } from './index.ts';
import { loadManifests, parseManifests } from '@clarus/cli/io/load.ts';

const BAD = join(REPO_ROOT, 'policy/test/fixtures/bad');
const badFiles = (await readdir(BAD)).filter((f) => f.endsWith('.yaml')).sort();

describe('bad fixtures', () => {
  it('there are bad fixtures', () => {
    expect(badFiles.length).toBeGreaterThanOrEqual(20);
  });

  it.each(badFiles)('%s is rejected with the expected resource, path and reason', async (file) => {
    const text = await readFile(join(BAD, file), 'utf8');
    const m = /^# expect: (.+?) \| (.+?) \| (.+)$/m.exec(text);
    expect(m, 'fixture needs a "# expect: resource | path | reason" line').not.toBeNull();
    const [, resource, path, reason] = m ?? [];
    const parsed = parseManifests(text, file);
    const result = validateManifests(parsed.docs);
    const errors = result.issues.filter((i) => i.severity === 'error');
    expect(result.errors).toBeGreaterThan(0);
    const hit = errors.find((i) => i.resource === resource && i.path === path && i.message.includes(reason ?? ''));
    expect(hit, errors.map(formatIssue).join('\n')).toBeDefined();
  });
});

describe('examples', () => {
  it.each(['ehealth', 'passthrough', 'collaborative'])('examples/%s is valid and renders', async (dir) => {
    const loaded = await loadManifests([join(REPO_ROOT, 'examples', dir)]);
    const result = validateManifests(loaded.docs);
    expect([...loaded.issues, ...result.issues].map(formatIssue)).toEqual([]);
    expect(result.set.resources.some((r) => r.kind === 'ClarusProxy')).toBe(true);
  });
});

describe('messages', () => {
  it('names the file, resource, field and reason, with defaults applied before the rules', () => {
    const { docs } = parseManifests('apiVersion: clarus.io/v1alpha1\nkind: CloudBackend\nmetadata: { name: b, namespace: x }\nspec: { host: h, database: d, credentialsSecretRef: { name: c }, port: 70000 }\n', 'b.yaml');
    const r = validateManifests(docs);
    expect(r.issues.map(formatIssue)).toEqual(['b.yaml: error: CloudBackend/x/b: spec.port: must be at most 65535']);
  });

  it('reports YAML errors, unknown kinds and foreign objects', () => {
    const p = parseManifests('a: [\n', 'broken.yaml');
    expect(p.issues[0]?.message).toMatch(/^YAML: /);
    const r = validateManifests(parseManifests('apiVersion: clarus.io/v1alpha1\nkind: Policy\nmetadata: { name: a }\nspec: {}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\n', 'm.yaml').docs);
    expect(r.issues.map((i) => [i.severity, i.path, i.message])).toEqual([
      ['error', 'kind', 'unknown kind Policy in clarus.io'],
      ['warning', 'apiVersion', 'not a clarus.io resource or Secret; ignored'],
    ]);
  });

  it('warns, naming the backend, when a CloudBackend has no read-only role, and not when it has one', () => {
    const backend = (name: string, extra: string) => `apiVersion: clarus.io/v1alpha1\nkind: CloudBackend\nmetadata: { name: ${name}, namespace: x }\nspec: { host: h, database: d, credentialsSecretRef: { name: c }, tls: { mode: require }${extra} }\n`;
    const r = validateManifests(parseManifests(`${backend('rw-only', '')}---\n${backend('both', ', readOnlyCredentialsSecretRef: { name: c-ro }')}`, 'b.yaml').docs);
    expect(r.errors).toBe(0);
    expect(r.issues.filter((i) => i.resource.startsWith('CloudBackend/')).map(formatIssue)).toEqual([
      'b.yaml: warning: CloudBackend/x/rw-only: spec.readOnlyCredentialsSecretRef: backend rw-only has no read-only role: read-only grants use the read-write role, so a miss in the proxy could let a read grant write',
    ]);
  });

  it('rejects an invalid object name and a wrong apiVersion', () => {
    const r = validateManifests(parseManifests('apiVersion: clarus.io/v1\nkind: CloudBackend\nmetadata: { name: B }\nspec: {}\n---\napiVersion: clarus.io/v1alpha1\nkind: ClarusProxy\nmetadata: { name: Bad_Name }\nspec: { policyRef: { name: p } }\n', 'm.yaml').docs);
    expect(r.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'apiVersion: must be clarus.io/v1alpha1, got "clarus.io/v1"',
      'metadata.name: "Bad_Name" is not a valid object name (DNS-1123 subdomain)',
    ]);
  });
});
