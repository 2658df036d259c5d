// ConfigMap (config.json, no secret values) and Secret (the rendered secret files) of a ClarusProxy.
import { Buffer } from 'node:buffer';
import { hashOf } from './hash.ts';
import { CONFIG_KEY, LAYOUT_ANNOTATION, configMapName, ownedMeta, secretName } from './names.ts';
import type { BuildInput, KubeObject, Rendered } from './types.ts';

export function configJson(rendered: Rendered): string {
  return `${JSON.stringify(rendered.config, null, 2)}\n`;
}

/** Hash of everything a proxy pod runs from; a change must roll the pods. */
export function configHash(rendered: Rendered, image: string): string {
  const files = [...rendered.files].sort((a, b) => a.path.localeCompare(b.path));
  return hashOf({ config: rendered.config, files, image });
}

export function buildConfigMap({ proxy, rendered }: BuildInput): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(proxy, configMapName(proxy.metadata.name)),
    data: { [CONFIG_KEY]: configJson(rendered) },
  };
}

/** key -> path mapping, so whoever mounts the Secret (Deployment or injected sidecar) restores the layout. */
export function secretItems(rendered: Rendered): Array<{ key: string; path: string }> {
  return rendered.files
    .map((f) => ({ key: f.secretKey, path: f.path }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

export function buildSecret({ proxy, rendered }: BuildInput): KubeObject {
  const data: Record<string, string> = {};
  for (const file of rendered.files) data[file.secretKey] = Buffer.from(file.content, 'utf8').toString('base64');
  const meta = ownedMeta(proxy, secretName(proxy.metadata.name));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { ...meta, annotations: { [LAYOUT_ANNOTATION]: JSON.stringify(secretItems(rendered)) } },
    type: 'Opaque',
    data,
  };
}

/** Parses the layout annotation of a Secret written by buildSecret; [] when absent or malformed. */
export function parseLayout(annotation: string | undefined): Array<{ key: string; path: string }> {
  if (!annotation) return [];
  try {
    const parsed: unknown = JSON.parse(annotation);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(isItem);
  } catch {
    return [];
  }
}

function isItem(v: unknown): v is { key: string; path: string } {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.key === 'string' && typeof r.path === 'string';
}
