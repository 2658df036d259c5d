// The CRDs must be structural (apiextensions.k8s.io/v1 rejects them otherwise) and self-consistent;
// the apiserver's checks are reproduced here so `make generate` output is known to be accepted.
import { Environment } from '@marcbachmann/cel-js';
import { describe, expect, it } from 'vitest';
import { applyDefaults, validateSchema, type FieldError } from './structural.ts';
import { crd, KINDS, objectSchema } from '@clarus/crds/schema/index.ts';
import type { Schema } from '@clarus/crds/schema/props.ts';

function walk(s: Schema, path: string, visit: (s: Schema, path: string) => void): void {
  visit(s, path);
  for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`, visit);
  if (s.items) walk(s.items, `${path}[]`, visit);
  if (s.additionalProperties) walk(s.additionalProperties, `${path}{}`, visit);
}

function problems(check: (s: Schema, path: string) => string | undefined): string[] {
  const out: string[] = [];
  for (const def of KINDS) {
    walk(objectSchema(def), def.kind, (s, p) => {
      const msg = check(s, p);
      if (msg) out.push(`${p}: ${msg}`);
    });
  }
  return out;
}

describe('structural schemas', () => {
  it('every node has a type (or is int-or-string)', () => {
    expect(problems((s) => (s.type || s['x-kubernetes-int-or-string'] ? undefined : 'no type'))).toEqual([]);
  });

  it('no object mixes properties and additionalProperties', () => {
    expect(problems((s) => (s.properties && s.additionalProperties ? 'both' : undefined))).toEqual([]);
  });

  it('every field has a description', () => {
    expect(problems((s, p) => (s.description || p.endsWith('.metadata') ? undefined : 'no description'))).toEqual([]);
  });

  it('metadata is exactly { type: object } (the apiserver forbids anything else)', () => {
    for (const def of KINDS) expect(objectSchema(def).properties?.metadata).toEqual({ type: 'object' });
  });

  it('required fields exist, list-map keys are required, enums match the type', () => {
    expect(problems((s) => {
      const missing = (s.required ?? []).filter((r) => !s.properties?.[r]);
      if (missing.length) return `required but undefined: ${missing.join(',')}`;
      const keys = s['x-kubernetes-list-map-keys'] ?? [];
      if (keys.some((k) => !(s.items?.required ?? []).includes(k))) return 'list-map key not required';
      if (s.enum?.some((v) => typeof v !== 'string' || s.type !== 'string')) return 'enum not of strings';
      return undefined;
    })).toEqual([]);
  });

  it('strings and lists a CEL rule iterates or compares are bounded (CEL cost)', () => {
    const unbounded: string[] = [];
    for (const def of KINDS) {
      walk(objectSchema(def), def.kind, (s, p) => {
        if (!s['x-kubernetes-validations']) return;
        walk(s, p, (n, np) => {
          if (n.type === 'array' && n.maxItems === undefined) unbounded.push(`${np}: list without maxItems`);
          if (n.type === 'string' && !n.enum && n.maxLength === undefined && n.format !== 'date-time') unbounded.push(`${np}: string without maxLength`);
        });
      });
    }
    expect(unbounded).toEqual([]);
  });

  it('every CEL rule parses and type-checks against dyn self', () => {
    const env = new Environment().registerVariable('self', 'dyn');
    expect(problems((s) => {
      for (const r of s['x-kubernetes-validations'] ?? []) {
        const c = env.check(r.rule);
        if (!c.valid) return `${r.rule}: ${c.error?.message}`;
        if (!r.message) return `${r.rule}: no message`;
      }
      return undefined;
    })).toEqual([]);
  });

  it('defaults are valid values of their own schema', () => {
    expect(problems((s) => {
      if (s.default === undefined) return undefined;
      const errors: FieldError[] = [];
      validateSchema(s, applyDefaults(s, s.default), '', errors);
      return errors.length ? JSON.stringify(errors) : undefined;
    })).toEqual([]);
  });
});

describe('CustomResourceDefinitions', () => {
  function resolve(schema: Schema, jsonPath: string): Schema | undefined {
    let node: Schema | undefined = schema;
    for (const part of jsonPath.replace(/\[\?\(.*?\)\]/g, '[]').split('.').filter(Boolean)) {
      const name = part.replace(/\[\]$/, '');
      node = node?.properties?.[name];
      if (part.endsWith('[]')) node = node?.items;
    }
    return node;
  }

  it.each(KINDS.map((k) => [k.kind, k] as const))('%s: names, subresources, printer columns', (_kind, def) => {
    const c = crd(def);
    const spec = c.spec as { names: { categories: string[]; shortNames: string[] }; versions: Array<{ subresources: Record<string, unknown> }> };
    expect(c.metadata.name).toBe(`${def.plural}.clarus.io`);
    expect(spec.names.categories).toEqual(['clarus']);
    expect(spec.names.shortNames.length).toBeGreaterThan(0);
    expect(spec.versions[0]?.subresources.status).toEqual({});
    const schema = objectSchema(def);
    expect(def.printerColumns.map((p) => p.name)).toContain('Ready');
    expect(def.printerColumns.map((p) => p.name)).toContain('Age');
    for (const col of def.printerColumns.filter((c) => !c.jsonPath.startsWith('.metadata.'))) expect(resolve(schema, col.jsonPath), col.jsonPath).toBeDefined();
  });

  it('ClarusProxy has a scale subresource whose paths exist', () => {
    const def = KINDS.find((k) => k.kind === 'ClarusProxy');
    expect(def?.scale).toEqual({ specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' });
    const schema = def ? objectSchema(def) : {};
    expect(resolve(schema, '.spec.replicas')?.type).toBe('integer');
    expect(resolve(schema, '.status.replicas')?.type).toBe('integer');
    expect(resolve(schema, '.status.selector')?.type).toBe('string');
    expect(def?.printerColumns.map((c) => c.name)).toEqual(expect.arrayContaining(['Ready', 'Replicas', 'Policy', 'Age']));
  });

  it('short names are unique across kinds', () => {
    const all = KINDS.flatMap((k) => k.shortNames);
    expect(new Set(all).size).toBe(all.length);
  });
});
