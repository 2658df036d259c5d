// AccessGrant: which user may use which datasets through a proxy, and what they see.
import { ageColumn, conditions, localRef, observedGeneration, readyColumn, reasonColumn, secretKeyRef, type KindDef } from './common.ts';
import { arr, named, obj, oneOf, rules, str } from './props.ts';

export const USER_PATTERN = '^[A-Za-z_][A-Za-z0-9_.-]*$';

const subject = named('GrantSubject', obj('Who is granted access: a user with a password, or a partner proxy with a certificate.', {
  user: str('User name a client presents to the proxy (also the name of its SCRAM verifier).', {
    minLength: 1, maxLength: 63, pattern: USER_PATTERN,
  }),
  passwordSecretRef: secretKeyRef('Secret holding the user\'s password; the proxy stores only a SCRAM-SHA-256 verifier.', 'password'),
  externalProxy: obj('A partner Clarus proxy that authenticates with a client certificate (collaborative mode).', {
    name: str('User name the partner proxy presents (its ClarusProxy spec.upstream.user).', {
      minLength: 1, maxLength: 63, pattern: USER_PATTERN,
    }),
    certificateSubject: str('Exact subject of the partner\'s client certificate, e.g. CN=partner-proxy,O=Partner.', {
      minLength: 1, maxLength: 1024,
    }),
  }, { required: ['name', 'certificateSubject'] }),
}, rules(
  { rule: 'has(self.user) == has(self.passwordSecretRef)', message: 'user and passwordSecretRef go together' },
  { rule: 'has(self.user) != has(self.externalProxy)', message: 'exactly one of user (with passwordSecretRef) or externalProxy' },
)));

export const accessGrant: KindDef = {
  kind: 'AccessGrant',
  plural: 'accessgrants',
  singular: 'accessgrant',
  shortNames: ['ag', 'grant'],
  description: 'Lets one user (or partner proxy) use datasets through a ClarusProxy, and says what the user sees. '
    + 'No grant, no access: statements on a dataset without a grant fail with SQLSTATE 42501.',
  spec: obj('The grant.', {
    proxyRef: localRef('The ClarusProxy the grant applies to.', 'ClarusProxy'),
    subject,
    datasets: arr('Dataset names of the proxy\'s SecurityPolicy, or ["*"] for all.', str('A dataset name or *.', {
      minLength: 1, maxLength: 63, pattern: '^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$',
    }), {
      minItems: 1, maxItems: 64, 'x-kubernetes-list-type': 'set',
      ...rules({ rule: "!('*' in self) || self.size() == 1", message: '"*" must be the only entry' }),
    }),
    access: named('Access', oneOf('read: SELECT only; readWrite: also INSERT, UPDATE, DELETE, COPY FROM.', ['read', 'readWrite'])),
    view: named('View', oneOf('What protected columns look like when read: plaintext (decrypted), masked (a masked '
      + 'rendering of decrypted values), protected (what the cloud stores).', ['plaintext', 'masked', 'protected'])),
    expires: str('Optional end of validity (RFC 3339); afterwards the grant stops applying.', { format: 'date-time' }),
  }, { required: ['proxyRef', 'subject', 'datasets', 'access', 'view'] }),
  status: obj('Observed state of the grant.', { conditions, observedGeneration }),
  printerColumns: [
    { name: 'Proxy', type: 'string', jsonPath: '.spec.proxyRef.name', description: 'ClarusProxy.' },
    { name: 'User', type: 'string', jsonPath: '.spec.subject.user', description: 'User name.' },
    { name: 'Access', type: 'string', jsonPath: '.spec.access', description: 'read or readWrite.' },
    { name: 'View', type: 'string', jsonPath: '.spec.view', description: 'plaintext, masked or protected.' },
    { name: 'Expires', type: 'date', jsonPath: '.spec.expires', description: 'End of validity.', priority: 1 },
    readyColumn, reasonColumn, ageColumn,
  ],
};
