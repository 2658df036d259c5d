// The commands as a user runs them: cli/bin/clarus as a real process, exit codes and output.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';

const run = promisify(execFile);
const CLARUS = join(REPO_ROOT, 'cli/bin/clarus');

async function clarus(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(CLARUS, args, { cwd: REPO_ROOT });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'clarus-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('clarus policy validate', () => {
  it('accepts every example (exit 0)', async () => {
    const r = await clarus('policy', 'validate', '-f', 'examples/');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^valid: \d+ Clarus resource\(s\), \d+ Secret\(s\)\n$/);
  });

  it('warns (exit 0) when a CloudBackend has no read-only role, naming the backend', async () => {
    const text = (await readFile(join(REPO_ROOT, 'examples/passthrough/passthrough.yaml'), 'utf8')).replace(/^ {2}readOnlyCredentialsSecretRef: .*\n/m, '');
    expect(text).not.toContain('readOnlyCredentialsSecretRef');
    const file = join(tmp, 'no-readonly.yaml');
    await writeFile(file, text);
    const r = await clarus('policy', 'validate', '-f', file);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${file}: warning: CloudBackend/demo/cloud: spec.readOnlyCredentialsSecretRef: backend cloud has no read-only role: read-only grants use the read-write role, so a miss in the proxy could let a read grant write\n`);
    expect(r.stdout).toMatch(/^valid: /);
  });

  it('rejects a bad file with exit 1 and names file, resource, field and reason', async () => {
    const r = await clarus('policy', 'validate', '-f', 'examples/ehealth', '-f', 'policy/test/fixtures/bad/split-without-rowkey.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('policy/test/fixtures/bad/split-without-rowkey.yaml: error: SecurityPolicy/default/p: spec.datasets[0].rowKey: a dataset with split columns needs a rowKey');
  });

  it('exits 2 on usage errors and 1 on a missing path', async () => {
    expect((await clarus('policy', 'validate')).code).toBe(2);
    expect((await clarus('policy', 'frobnicate')).code).toBe(2);
    const missing = await clarus('policy', 'validate', '-f', join(tmp, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT/);
  });
});

describe('clarus policy render / explain / import', () => {
  it('renders the directory a pod mounts', async () => {
    const out = join(tmp, 'rendered');
    const r = await clarus('policy', 'render', '-f', 'examples/ehealth', '--out', out);
    expect(r.code).toBe(0);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as { hash: string; users: Array<{ verifierFile: string }> };
    expect(r.stdout).toContain(config.hash);
    expect(await readFile(join(out, config.users[0]?.verifierFile ?? ''), 'utf8')).toMatch(/^SCRAM-SHA-256\$4096:/);
    const several = await clarus('policy', 'render', '-f', 'examples/collaborative', '--out', out);
    expect(several.code).toBe(2);
    expect(several.stderr).toContain('choose one with --proxy NAME');
  });

  it('explains a policy and a statement', async () => {
    // The example splits diagnosis onto cloud-b: each backend gets its fragment's statement.
    const split = await clarus('policy', 'explain', '-f', 'examples/ehealth', '--sql', "SELECT * FROM patient WHERE diagnosis = 'flu'");
    expect(split.code).toBe(0);
    expect(split.stdout).toMatch(/public\.patient\.diagnosis\s+confidential\s+encrypt deterministic/);
    expect(split.stdout).toContain('Dataset patients is split');
    expect(split.stdout).toMatch(/cloud-b \(its columns of patient for the row keys the home fragment returned\): SELECT pat_id, diagnosis FROM public\.patient WHERE pat_id = ANY/);
    expect(split.stdout).toMatch(/cloud-b\s+patients\s+pat_id, diagnosis\s+diagnosis: equality and frequency of values, length/);
    expect(split.stdout).not.toContain("'flu'\n  1.");
    // The same policy without the split is rewritten.
    const unsplit = join(tmp, 'unsplit');
    await cp('examples/ehealth', unsplit, { recursive: true });
    const policy = await readFile(join(unsplit, 'policy.yaml'), 'utf8');
    await writeFile(join(unsplit, 'policy.yaml'), policy.replace('split: { backend: cloud-b }, ', ''));
    const r = await clarus('policy', 'explain', '-f', unsplit, '--sql', "SELECT diagnosis FROM patient WHERE pat_ssn = '42'");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Rewritten by the proxy\'s rewriter');
    expect(r.stdout).toMatch(/pat_ssn__bidx = /);
    expect(r.stdout).not.toContain('Split datasets');
    const bad = await clarus('policy', 'explain', '-f', 'examples/ehealth', '--sql', 'SELEC 1');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('ERROR: the statement does not parse');
  });

  it('imports a CLARUS 1.0 policy into manifests that validate; one that would protect less prints nothing and exits 1', async () => {
    const r = await clarus('policy', 'import', 'cli/test/fixtures/clarus1/ehealth-anonymization.xml', '--namespace', 'hospital');
    expect(r.code).toBe(0);
    await writeFile(join(tmp, 'imported.yaml'), r.stdout);
    const v = await clarus('policy', 'validate', '-f', join(tmp, 'imported.yaml'));
    expect(v.code).toBe(0);
    const bad = await clarus('policy', 'import', 'cli/test/fixtures/clarus1/unmappable.xml');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('refused: line 16: protection module "homomorphic" is not one CLARUS 1.0 defines');
    expect(bad.stderr).toContain('no policy printed: it would protect less than the CLARUS policy');
  });

  it('prints a weaker import only with --partial, marked so that validate refuses it', async () => {
    const r = await clarus('policy', 'import', 'cli/test/fixtures/clarus1/splitting.xml', '--namespace', 'hospital', '--partial');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('WARNING: --partial: the policy printed PROTECTS LESS than');
    expect(r.stdout).toContain('clarus.io/import-partial: "1 refusal(s) of clarus policy import, first: line 11: CLARUS splitting spreads each value over 2 cloud(s)');
    await writeFile(join(tmp, 'partial.yaml'), r.stdout);
    const v = await clarus('policy', 'validate', '-f', join(tmp, 'partial.yaml'));
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('error: SecurityPolicy/hospital/splitting: metadata.annotations[clarus.io/import-partial]: the policy was imported with --partial and protects less than its source');
  });
});

describe('clarus keys', () => {
  it('generates a keyring that rotates and renders', async () => {
    const g = await clarus('keys', 'generate', '--name', 'ehealth-keys', '--namespace', 'hospital', '--key', 'clinical');
    expect(g.code).toBe(0);
    await writeFile(join(tmp, 'keys.yaml'), g.stdout);
    const r = await clarus('keys', 'rotate', '-f', join(tmp, 'keys.yaml'), '--key', 'clinical');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('clarus.io/keyring-current: clinical=2,default=1');
    expect(r.stdout).toMatch(/clinical\.v2: .{44}\n/);
    const bad = await clarus('keys', 'generate', '--name', 'k', '--key', 'Not_Valid');
    expect(bad.code).toBe(2);
  });

  it('asks for Vault before touching a wrapped keyring, and refuses to wrap or rewrap the wrong form', async () => {
    const wrapped = 'apiVersion: v1\nkind: Secret\nmetadata: { name: k }\nstringData: { default.v1: "vault:v1:AAAA" }\n';
    await writeFile(join(tmp, 'wrapped.yaml'), wrapped);
    const r = await clarus('keys', 'rotate', '-f', join(tmp, 'wrapped.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds keys wrapped by Vault transit: the new versions come from Vault');
    expect((await clarus('keys', 'rewrap', '-f', join(tmp, 'wrapped.yaml'))).stderr).toContain('rewrap needs Vault options');
    expect((await clarus('keys', 'generate', '--name', 'k', '--vault-address', 'http://127.0.0.1:1')).stderr).toContain('--vault-key');
  });
});
