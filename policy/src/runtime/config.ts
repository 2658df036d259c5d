// The runtime configuration: what `clarus proxy --config DIR` runs from. CONTRACT between the
// render step (crds, called by the operator and `clarus policy render`) and the proxy.
//
// Directory layout (exactly what a pod mounts through one projected volume at /etc/clarus):
//   DIR/config.json                         RuntimeConfig below (no secret values, only file names)
//   DIR/secrets/keyring/<keyName>.v<N>      base64 of a 256-bit master key, one file per version; with
//                                           policy.keyring.vaultTransit the key wrapped by the transit
//                                           key instead (vault:v<N>:<base64>), unwrapped in memory only
//   DIR/secrets/vault/ca.crt                CA of the Vault server (vaultTransit.caFile, optional)
//   DIR/secrets/vault/token                 Vault token (vaultTransit auth method token, tests)
//   DIR/secrets/vault/sa-token              service-account token the kubelet projects (auth method
//                                           kubernetes; added to the pod's volume by the operator, not
//                                           a rendered file)
//   DIR/secrets/backends/<backend>/username backend credentials (plain text, no trailing newline needed)
//   DIR/secrets/backends/<backend>/password
//   DIR/secrets/backends/<backend>/readonly-username   read-only role (optional, CloudBackend
//   DIR/secrets/backends/<backend>/readonly-password   spec.readOnlyCredentialsSecretRef)
//   DIR/secrets/backends/<backend>/ca.crt   CA for verify-ca / verify-full (optional)
//   DIR/secrets/users/<user>.scram          SCRAM-SHA-256 verifier in PostgreSQL's format:
//                                           SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>
//   DIR/secrets/tls/tls.crt, tls.key        certificate the proxy shows clients (optional)
//   DIR/secrets/tls/ca.crt                  CA that client certificates must chain to (mTLS, optional)
//   DIR/secrets/upstream/tls.crt, tls.key, ca.crt   client certificate for collaborative mode
// All paths inside RuntimeConfig are relative to DIR.
//
// Secret files in one Secret: every file under DIR/secrets/ has a flattened Secret data key, the path
// without "secrets/" and with "/" replaced by "__" (secrets/backends/cloud-a/password →
// backends__cloud-a__password). It is injective because backend and key names are DNS labels and
// each category has a fixed prefix. render() returns it as RenderedFile.secretKey; the operator
// projects each key to its path (items key→path).
//
// Keyring Secret format (what `clarus keys generate|rotate` write and render() reads): data keys
// `<keyName>.v<N>` (keyName a DNS label, N ≥ 1), each the base64 text of 32 random bytes (written as
// stringData; raw 32-byte values are accepted too), and the annotation
// `clarus.io/keyring-current: "default=2,pii=1"` naming the version new writes use per key name
// (absent: the highest version). Old versions stay for decryption until re-encryption has moved
// every row. A `default` key is always required (it also keys the SCRAM salts). With the
// vaultTransit provider the entries are data keys wrapped by the transit key (`clarus keys generate
// --vault-address …` asks Vault for them); the salts are then keyed by the wrapped text.

import type { Access, AttributeType, EncryptMode, AnonymizeProtection, MaskedView, TlsMode, View } from '@clarus/crds/types.ts';

export const RUNTIME_CONFIG_FILE = 'config.json';
export const RUNTIME_CONFIG_VERSION = 1;

export interface HostPort { host: string; port: number }

export interface RuntimeBackend {
  name: string;
  host: string;
  port: number;
  database: string;
  /** The read-write role: sessions of users with at least one readWrite grant, and catalog reads. */
  usernameFile: string;
  passwordFile: string;
  /** The read-only role (SELECT only): sessions of users with no readWrite grant. Absent: they use the read-write role. */
  readOnly?: { usernameFile: string; passwordFile: string };
  tls: { mode: TlsMode; caFile?: string };
  pool: { maxConnections: number };
}

export interface RuntimeUser {
  name: string;
  /** user: a person or app with a SCRAM password; externalProxy: a partner proxy identified by its mTLS certificate. */
  kind: 'user' | 'externalProxy';
  verifierFile?: string;
  certificateSubject?: string;
  grants: Array<{ grant: string; datasets: string[]; access: Access; view: View; expires?: string }>;
}

/** A column's effective protection after attribute-type defaults are applied. */
export interface RuntimeColumn {
  name: string;
  attributeType: AttributeType;
  encrypt?: { mode: EncryptMode; searchable: boolean; keyName: string; maskedView?: MaskedView };
  anonymize?: AnonymizeProtection;
  /** Backend that stores this column (the policy's first backend unless split elsewhere). */
  backend: string;
  /**
   * A PostGIS point column split by coordinate: X stored on the first backend, Y on the second
   * (`backend` is then the one of them that is not the default backend).
   */
  coordinates?: [string, string];
}

export interface RuntimeDataset {
  name: string;
  schema: string;
  table: string;
  rowKey?: string;
  columns: RuntimeColumn[];
}

/** How the proxy logs in to Vault: a projected service-account token (production) or a token file. */
export type RuntimeVaultAuth =
  | { method: 'kubernetes'; mount: string; role: string; tokenFile: string; audience?: string }
  | { method: 'token'; tokenFile: string };

/** The keyring's entries are wrapped by this Vault transit key; the proxy unwraps them in memory. */
export interface RuntimeVaultTransit {
  address: string;
  mount: string;
  key: string;
  caFile?: string;
  auth: RuntimeVaultAuth;
  /** How long unwrapped keys stay in use while Vault cannot be reached. */
  maxUnreachableSeconds: number;
  /** Interval of the proxy's unwrap checks with Vault. */
  refreshSeconds: number;
}

/** Path of the projected service-account token the kubernetes auth method reads. */
export const VAULT_SA_TOKEN_FILE = 'secrets/vault/sa-token';

export interface RuntimePolicy {
  name: string;
  onUnsupported: 'reject' | 'passthroughUnprotected';
  defaultBackend: string;
  keyring: { dir: string; keys: Array<{ name: string; versions: number[]; current: number }>; vaultTransit?: RuntimeVaultTransit };
  datasets: RuntimeDataset[];
}

export interface RuntimeConfig {
  version: typeof RUNTIME_CONFIG_VERSION;
  proxy: { name: string; namespace: string };
  listen: HostPort;
  metricsListen: HostPort;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string; allowPlaintext: boolean };
  backends: RuntimeBackend[];
  /** Collaborative mode: all statements go to a partner proxy; `user` is the name it knows us by. */
  upstream?: { host: string; port: number; user: string; tls?: { certFile: string; keyFile: string; caFile: string } };
  users: RuntimeUser[];
  policy: RuntimePolicy;
  limits: {
    maxConnections: number;
    maxMessageBytes: number;
    connectTimeoutSeconds: number;
    idleTimeoutSeconds: number;
    drainSeconds: number;
    /** Longest statement text analysed while a policy protects data (default 1 MiB). */
    maxStatementBytes?: number;
    /** Byte budget of the analysis cache per policy (default 32 MiB). */
    analysisCacheBytes?: number;
    /** Two-stage statements are computed in the proxy (default true; false refuses them). */
    computeInProxy?: boolean;
    /** Candidate rows / bytes one two-stage statement may fetch (defaults 100,000 and 32 MiB). */
    computeMaxRows?: number;
    computeMaxBytes?: number;
    /** Seconds without a two-stage statement before the engine is stopped (default 600; 0: never). */
    computeIdleSeconds?: number;
  };
  /** sha256 of the canonical JSON of everything above plus the secret files' contents. */
  hash?: string;
}
