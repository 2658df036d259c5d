// CLARUS `<protocol plugin=… listen=…><parameter param="cspN" value="k=v;…"/>` → CloudBackend stubs.
// Only the PostgreSQL plugin has a Clarus equivalent. Pure.
import { API_VERSION, type CloudBackend } from '@clarus/crds/types.ts';
import type { XmlElement } from './xml.ts';

export const DEFAULT_DATABASE = 'postgres';
interface Sink { notes: string[]; refusals: string[] }

export function backendStub(name: string, namespace: string, kv: Record<string, string>, sink: Sink): CloudBackend {
  const known = new Set(['host', 'port', 'database', 'dbname']);
  for (const k of Object.keys(kv).filter((x) => !known.has(x))) sink.notes.push(`protocol parameter ${name}: "${k}" has no CloudBackend field; dropped (no protection depends on it)`);
  if (!kv.host) sink.notes.push(`CloudBackend ${name}: host unknown in the CLARUS policy; set spec.host (stub: ${name}.example.invalid)`);
  sink.notes.push(`CloudBackend ${name}: create Secret ${name}-creds with username and password (the read-write role), Secret ${name}-readonly-creds with username and password (a SELECT-only role), and Secret ${name}-ca with the server's CA as ca.crt`);
  return {
    apiVersion: API_VERSION, kind: 'CloudBackend', metadata: { name, namespace },
    spec: {
      host: kv.host ?? `${name}.example.invalid`,
      port: kv.port && /^\d+$/.test(kv.port) ? Number(kv.port) : 5432,
      database: kv.database ?? kv.dbname ?? DEFAULT_DATABASE,
      credentialsSecretRef: { name: `${name}-creds` },
      readOnlyCredentialsSecretRef: { name: `${name}-readonly-creds` },
      tls: { mode: 'verify-full', caSecretRef: { name: `${name}-ca` } },
    },
  };
}

function protocolAttrs(protocol: XmlElement, sink: Sink): void {
  const plugin = protocol.attrs.plugin ?? '';
  if (plugin.trim().toLowerCase() !== 'postgresql') {
    sink.refusals.push(`line ${protocol.line}: protocol plugin "${plugin}": Clarus is a PostgreSQL proxy; CLARUS's ${plugin || 'unnamed'} plugin has no equivalent`);
  }
  if (protocol.attrs.listen !== undefined) {
    sink.notes.push(`line ${protocol.line}: listen="${protocol.attrs.listen}" dropped: the port clients connect to is the ClarusProxy's spec.service.port`);
  }
  for (const k of Object.keys(protocol.attrs).filter((a) => a !== 'plugin' && a !== 'listen')) {
    sink.notes.push(`line ${protocol.line}: protocol ${k}="${protocol.attrs[k]}" dropped: not a CLARUS 1.0 setting`);
  }
}

/** `<parameter param="cspN" value="host=…;port=…"/>` → N → its settings; other children are noted and dropped. */
function cspParameters(protocol: XmlElement | undefined, sink: Sink): Map<number, Record<string, string>> {
  const csps = new Map<number, Record<string, string>>();
  for (const p of protocol?.children ?? []) {
    const m = /^csp([1-9][0-9]?)$/i.exec(p.attrs.param ?? '');
    if (p.name.toLowerCase() === 'parameter' && m?.[1]) {
      csps.set(Number(m[1]), Object.fromEntries((p.attrs.value ?? '').split(/[;,\s]+/).filter(Boolean).map((s) => s.split('=', 2) as [string, string])));
    } else {
      sink.notes.push(`line ${p.line}: <${p.name}${p.attrs.param ? ` param="${p.attrs.param}"` : ''}> in <protocol> dropped: only cspN parameters name a backend`);
    }
  }
  return csps;
}

export function backendsFrom(protocol: XmlElement | undefined, namespace: string, sink: Sink): CloudBackend[] {
  if (protocol) protocolAttrs(protocol, sink);
  else sink.notes.push('no <protocol> (the anonymization module\'s form): one PostgreSQL backend, csp1');
  const csps = cspParameters(protocol, sink);
  if (csps.size === 0) csps.set(1, {});
  return [...csps.entries()].sort(([a], [b]) => a - b).map(([n, kv]) => backendStub(`csp${n}`, namespace, kv, sink));
}

/** `eHealthDB/episode/ep_id`: the database the attributes name becomes the backends' database when none is set. */
export function useDatabaseNames(dbs: Set<string>, backends: CloudBackend[], sink: Sink): void {
  const names = [...dbs];
  if (names.length > 1) sink.notes.push(`attributes name ${names.length} databases (${names.join(', ')}); a SecurityPolicy protects its tables in whichever database a backend holds, so every one of them is protected there`);
  for (const b of backends.filter((x) => x.spec.database === DEFAULT_DATABASE)) {
    if (names.length === 1 && names[0]) b.spec.database = names[0];
    else sink.notes.push(`CloudBackend ${b.metadata.name}: database unknown; set spec.database (stub: ${DEFAULT_DATABASE})`);
  }
}

/** Backends a protection names that the `<protocol>` did not list (CLARUS's clouds 1…N): stubs, with a note. */
export function ensureBackends(names: readonly string[], backends: CloudBackend[], namespace: string, sink: Sink): void {
  for (const name of names.filter((n) => !backends.some((b) => b.metadata.name === n))) {
    sink.notes.push(`CloudBackend ${name}: the splitting protection needs it and the CLARUS policy's <protocol> does not list it`);
    backends.push(backendStub(name, namespace, {}, sink));
  }
}
