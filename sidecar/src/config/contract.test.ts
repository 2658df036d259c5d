// The contract with the proxy: what render() writes for the examples, the proxy's own loader
// (sidecar/src/config/load.ts) accepts, with every user's verifier and every backend's secrets.
// Collaborative org A (spec.upstream, no backends) loads too: the proxy's only "backend" is then
// the partner proxy, with the upstream client certificate and CA from the rendered secrets.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './load.ts';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import { validateManifests } from '@clarus/policy/validate/index.ts';
import { loadManifests } from '@clarus/cli/io/load.ts';
import { render } from '@clarus/policy/runtime/render.ts';
import { proxiesOf, selectForProxy } from '@clarus/policy/runtime/select.ts';
import { writeRuntimeDir } from '@clarus/cli/io/write.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'clarus-contract-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('rendered directories load in the proxy', () => {
  it.each([['ehealth', 'ehealth-proxy'], ['passthrough', 'passthrough-proxy'], ['collaborative', 'b-proxy'], ['collaborative', 'a-proxy']])('examples/%s (%s)', async (dir, name) => {
    const { set } = validateManifests((await loadManifests([join(REPO_ROOT, 'examples', dir)])).docs);
    const proxy = proxiesOf(set).find((p) => p.metadata.name === name);
    if (!proxy) throw new Error(`no proxy ${name}`);
    const input = selectForProxy(set, proxy);
    if ('resource' in input) throw new Error(input.message);
    const out = render(input);
    const target = join(tmp, name);
    await writeRuntimeDir(out, target);
    const snap = loadConfig(target);
    expect(snap.config.hash).toBe(out.config.hash);
    expect([...snap.backends.keys()].sort()).toEqual(out.config.backends.map((b) => b.name).sort());
    // Both roles of every backend reach the proxy, from the files render() wrote.
    const file = (path: string | undefined) => out.files.find((f) => f.path === path)?.content;
    for (const b of out.config.backends) {
      const loaded = snap.backends.get(b.name);
      expect([loaded?.username, loaded?.password]).toEqual([file(b.usernameFile), file(b.passwordFile)]);
      expect(loaded?.readOnly).toEqual(b.readOnly ? { username: file(b.readOnly.usernameFile), password: file(b.readOnly.passwordFile) } : undefined);
    }
    expect(out.config.backends.every((b) => b.readOnly)).toBe(true); // every example backend names a read-only role
    expect([...snap.users.keys()].sort()).toEqual(out.config.users.map((u) => u.name).sort());
    for (const u of snap.users.values()) expect(u.verifier !== null).toBe(u.spec.kind === 'user');
    const up = out.config.upstream;
    expect(snap.upstream?.spec.host).toBe(up?.host);
    if (up) {
      expect(snap.upstream).toMatchObject({ username: up.user, upstream: true, spec: { port: up.port, tls: { mode: up.tls ? 'verify-full' : 'disable' } } });
      if (up.tls) expect(snap.upstream?.clientCert?.cert).toContain('BEGIN CERTIFICATE');
    }
  });
});
