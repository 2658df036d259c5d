// The I/O shell around render(): writes the runtime directory (config.json + secrets/), the same
// tree a pod gets from its projected volume.
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RUNTIME_CONFIG_FILE } from '@clarus/policy/runtime/config.ts';
import { render, type RenderInput, type RenderOutput } from '@clarus/policy/runtime/render.ts';

export async function writeRuntimeDir(out: RenderOutput, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  // Stale secret files from an earlier render (a removed user, a dropped key) must not linger.
  await rm(join(outDir, 'secrets'), { recursive: true, force: true });
  for (const f of out.files) {
    const target = join(outDir, f.path);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await writeFile(target, f.content, { mode: 0o600 });
    await chmod(target, 0o600);
  }
  await writeFile(join(outDir, RUNTIME_CONFIG_FILE), `${JSON.stringify(out.config, null, 2)}\n`, { mode: 0o644 });
}

export async function renderToDir(input: RenderInput, outDir: string): Promise<RenderOutput> {
  const out = render(input);
  await writeRuntimeDir(out, outDir);
  return out;
}
