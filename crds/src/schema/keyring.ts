// SecurityPolicy.spec.keyring: where the master keys of the policy live. `secret`: the keyring Secret
// holds them (base64). `vaultTransit`: the keyring Secret holds data keys wrapped by a HashiCorp Vault
// transit key (envelope encryption); the proxy unwraps them into memory only.
import { int, named, obj, oneOf, rules, str } from './props.ts';
import { secretKeyRef } from './common.ts';

/** Vault paths: mount points and names are path segments without surrounding slashes. */
const VAULT_PATH = '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$';
const VAULT_NAME = '^[A-Za-z0-9_.-]+$';

const kubernetesAuth = obj('Kubernetes service-account authentication (the production path): the proxy logs in '
  + 'with a projected service-account token of its pod, which Vault checks with a TokenReview.', {
  role: str('Vault role of the kubernetes auth method (bound to the pod\'s service account and namespace).', {
    minLength: 1, maxLength: 128, pattern: VAULT_NAME,
  }),
  mount: str('Path where the kubernetes auth method is mounted (default kubernetes).', {
    minLength: 1, maxLength: 128, pattern: VAULT_PATH, default: 'kubernetes',
  }),
  audience: str('Audience of the projected token; set the Vault role\'s audience to the same. Absent: the '
    + 'API server\'s default audience.', { minLength: 1, maxLength: 253 }),
}, { required: ['role'] });

const auth = obj('How the proxy logs in to Vault: exactly one of kubernetes or tokenSecretRef.', {
  kubernetes: kubernetesAuth,
  tokenSecretRef: secretKeyRef('Secret holding a Vault token (tests and break-glass; whoever issued the token '
    + 'renews it).', 'token'),
}, rules({ rule: 'has(self.kubernetes) != has(self.tokenSecretRef)', message: 'exactly one of kubernetes or tokenSecretRef' }));

export const vaultTransit = named('VaultTransitSpec', obj('HashiCorp Vault transit engine that wraps the data '
  + 'keys of the keyring Secret (see `clarus keys generate --vault-address`).', {
  address: str('Vault address, https://HOST[:PORT] (http:// only for a Vault on loopback, in tests).', {
    minLength: 1, maxLength: 2048, pattern: '^https?://[^/?#\\s]+/?$',
  }),
  mount: str('Path where the transit engine is mounted (default transit).', {
    minLength: 1, maxLength: 128, pattern: VAULT_PATH, default: 'transit',
  }),
  key: str('Name of the transit key that wraps the data keys.', { minLength: 1, maxLength: 128, pattern: VAULT_NAME }),
  caSecretRef: secretKeyRef('Secret holding the CA certificate (PEM) Vault\'s server certificate must chain to; '
    + 'absent: the system CAs.', 'ca.crt'),
  auth,
  maxUnreachableSeconds: int('How long the proxy keeps serving with the data keys it has unwrapped while Vault '
    + 'cannot be reached; past that it stops using them and reports not ready until Vault answers again.', {
    minimum: 0, maximum: 86400, default: 300,
  }),
  refreshSeconds: int('How often the proxy asks Vault again to unwrap its data keys; a revoked token, policy '
    + 'or transit key version takes effect at the next check.', { minimum: 5, maximum: 3600, default: 60 }),
}, { required: ['address', 'key', 'auth'] }));

export const keyring = obj('Master keys for encryption, blind indexes and pseudonyms.', {
  secretName: str('Secret holding the keyring (data keys `<keyName>.v<N>`; see `clarus keys generate`).', {
    minLength: 1, maxLength: 253,
  }),
  provider: oneOf('Where the master keys live: `secret` (the keyring Secret holds them) or `vaultTransit` (the '
    + 'keyring Secret holds them wrapped by a Vault transit key; the proxy unwraps them in memory).',
  ['secret', 'vaultTransit'], { default: 'secret' }),
  vaultTransit,
}, {
  required: ['secretName'],
  ...rules({
    rule: "(has(self.provider) && self.provider == 'vaultTransit') == has(self.vaultTransit)",
    message: 'vaultTransit is set exactly when provider is vaultTransit', fieldPath: '.vaultTransit',
  }),
});
