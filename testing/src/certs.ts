// Test certificates made with node-forge (keys from node:crypto, which is much faster than
// forge's pure-JS RSA). A CA, a server certificate for 127.0.0.1/localhost and client certificates.
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface CertPair { certPem: string; keyPem: string }
/** client(cn, o): a client certificate with subject CN=cn (and O=o when given). */
export interface TestPki { ca: CertPair; server: CertPair; client(cn: string, o?: string): CertPair }

function newKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  const publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { forgeKey, publicKey, pem };
}

let serial = 1;
function issue(cn: string, issuer: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } | null,
  extensions: object[], o?: string): { cert: forge.pki.Certificate; pair: CertPair; key: forge.pki.rsa.PrivateKey } {
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = (serial++).toString(16).padStart(2, '0') + Date.now().toString(16);
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: cn }, ...(o ? [{ name: 'organizationName', value: o }] : [])]);
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: cn }]);
  cert.setExtensions(extensions);
  cert.sign(issuer ? issuer.key : key.forgeKey, forge.md.sha256.create());
  return { cert, key: key.forgeKey, pair: { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem } };
}

export function makeTestPki(): TestPki {
  const ca = issue('Clarus Test CA', null, [
    { name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }]);
  const signer = { cert: ca.cert, key: ca.key };
  const server = issue('localhost', signer, [
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }]);
  return {
    ca: ca.pair,
    server: server.pair,
    client: (cn, o) => issue(cn, signer, [{ name: 'extKeyUsage', clientAuth: true }], o).pair,
  };
}

let shared: TestPki | undefined;
/** One PKI per test process: generating RSA keys costs tens of milliseconds each. */
export function testPki(): TestPki {
  shared ??= makeTestPki();
  return shared;
}
