// I/O: reads manifests from files and folders (recursively, *.yaml|*.yml|*.json, sorted).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Issue } from '@clarus/policy/validate/issue.ts';
import type { Loaded } from '@clarus/policy/validate/index.ts';

async function filesUnder(path: string): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(path, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(full)));
    else if (/\.(ya?ml|json)$/.test(e.name)) out.push(full);
  }
  return out;
}

export function parseManifests(text: string, source: string): { docs: Loaded[]; issues: Issue[] } {
  const docs: Loaded[] = [];
  const issues: Issue[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) {
      issues.push({ resource: '(document)', path: '', message: `YAML: ${d.errors[0]?.message.split('\n')[0]}`, severity: 'error', source });
      continue;
    }
    const doc: unknown = d.toJS();
    if (doc !== null && doc !== undefined) docs.push({ doc, source });
  }
  return { docs, issues };
}

export async function loadManifests(paths: string[]): Promise<{ docs: Loaded[]; issues: Issue[] }> {
  const docs: Loaded[] = [];
  const issues: Issue[] = [];
  for (const p of paths) {
    let files: string[];
    try {
      files = await filesUnder(p);
    } catch (e) {
      issues.push({ resource: '(input)', path: p, message: (e as Error).message, severity: 'error' });
      continue;
    }
    for (const f of files) {
      const parsed = parseManifests(await readFile(f, 'utf8'), f);
      docs.push(...parsed.docs);
      issues.push(...parsed.issues);
    }
  }
  return { docs, issues };
}
