// The control plane's certificates, made with node-forge (RSA keys from node:crypto, much faster
// than forge's pure-JS generation): one CA that signs the API server's serving certificate and
// the client certificates (CN = user, O = groups), and the service-account signing key pair.
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface CertPair { certPem: string; keyPem: string }

export interface ControlPlanePki {
  ca: CertPair;
  apiServer: CertPair;
  /** A client certificate for user `cn` in `groups` (system:masters is cluster-admin). */
  client(cn: string, groups?: string[]): CertPair;
  serviceAccount: { publicKeyPem: string; privateKeyPem: string };
}

interface Issuer { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }

function rsaKey(): { forgeKey: forge.pki.rsa.PrivateKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return { forgeKey: forge.pki.privateKeyFromPem(pem), pem };
}

let serial = 1;
function issue(subject: forge.pki.CertificateField[], issuer: Issuer | null, extensions: object[]):
  { issuer: Issuer; pair: CertPair } {
  const key = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.forgeKey.n, key.forgeKey.e);
  // Positive, unique serial: a leading 01 keeps the DER integer positive.
  cert.serialNumber = '01' + (serial++).toString(16).padStart(4, '0') + Date.now().toString(16);
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 24 * 3_600_000);
  cert.setSubject(subject);
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : subject);
  cert.setExtensions(extensions);
  cert.sign(issuer ? issuer.key : key.forgeKey, forge.md.sha256.create());
  return {
    issuer: { cert, key: key.forgeKey },
    pair: { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem },
  };
}

/** Names the API server answers to, on loopback and inside the (simulated) cluster. */
const apiServerNames = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local'];

export function makeControlPlanePki(): ControlPlanePki {
  const ca = issue([{ name: 'commonName', value: 'clarus-e2e-ca' }], null, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
  ]);
  const apiServer = issue([{ name: 'commonName', value: 'kube-apiserver' }], ca.issuer, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [
      ...apiServerNames.map((value) => ({ type: 2, value })),
      { type: 7, ip: '127.0.0.1' },
      { type: 7, ip: '10.0.0.1' },
    ] },
  ]);
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ca: ca.pair,
    apiServer: apiServer.pair,
    client: (cn, groups = []) => issue(
      [{ name: 'commonName', value: cn }, ...groups.map((value) => ({ name: 'organizationName', value }))],
      ca.issuer,
      [{ name: 'keyUsage', digitalSignature: true, keyEncipherment: true }, { name: 'extKeyUsage', clientAuth: true }],
    ).pair,
    serviceAccount: {
      publicKeyPem: sa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKeyPem: sa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    },
  };
}
