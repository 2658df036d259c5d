// `make generate`: writes the CRDs, their Helm templates, the TypeScript types and the policy
// reference from the schema source (crds/src/schema). Checked in; generate.test.ts fails on drift.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from './schema/outputs.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export async function writeGenerated(root = REPO_ROOT): Promise<string[]> {
  const written: string[] = [];
  for (const [path, content] of generatedFiles()) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    written.push(path);
  }
  return written;
}

if (import.meta.main) {
  const written = await writeGenerated();
  process.stderr.write(`generated ${written.length} files\n`);
}
