// Webhook PKI with node-forge: a self-signed CA and a serving certificate it signs. Keys come from
// node:crypto (native RSA key generation); forge builds and signs the X.509 certificates.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface KeyPair { certPem: string; keyPem: string }

const DAY_MS = 24 * 3600 * 1000;

function newKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function baseCert(publicKey: forge.pki.PublicKey, commonName: string, now: Date, validDays: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: a leading 0x01..0x7f byte keeps the DER INTEGER non-negative.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60 * 1000); // tolerate small clock skew
  cert.validity.notAfter = new Date(now.getTime() + validDays * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  return cert;
}

export function generateCA(commonName: string, now: Date, validDays: number): KeyPair {
  const keys = newKeys();
  const cert = baseCert(keys.publicKey, commonName, now, validDays);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

export interface ServingRequest { dnsNames: string[]; ipAddresses: string[]; now: Date; validDays: number }

export function generateServing(ca: KeyPair, req: ServingRequest): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = newKeys();
  const cert = baseCert(keys.publicKey, req.dnsNames[0] ?? req.ipAddresses[0] ?? 'clarus-webhook', req.now, req.validDays);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...req.dnsNames.map((value) => ({ type: 2, value })),
    ...req.ipAddresses.map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

export interface CertInfo { notAfter: Date; dnsNames: string[]; ipAddresses: string[] }

export function inspect(certPem: string): CertInfo {
  const cert = forge.pki.certificateFromPem(certPem);
  const san = cert.getExtension('subjectAltName') as { altNames?: Array<{ type: number; value?: string; ip?: string }> } | null;
  const alt = san?.altNames ?? [];
  return {
    notAfter: cert.validity.notAfter,
    dnsNames: alt.filter((a) => a.type === 2).map((a) => a.value ?? ''),
    ipAddresses: alt.filter((a) => a.type === 7).map((a) => a.ip ?? ''),
  };
}

export function verifies(caPem: string, certPem: string): boolean {
  try {
    return forge.pki.certificateFromPem(caPem).verify(forge.pki.certificateFromPem(certPem));
  } catch {
    return false;
  }
}

export interface RotationPolicy { renewBeforeDays: number }

/** Pure decision: does this material have to be (re)issued now? */
export function rotationNeeded(
  material: { ca?: KeyPair; serving?: KeyPair },
  want: { dnsNames: string[]; ipAddresses: string[] },
  now: Date,
  policy: RotationPolicy,
): 'none' | 'serving' | 'all' {
  const horizon = now.getTime() + policy.renewBeforeDays * DAY_MS;
  if (!material.ca) return 'all';
  if (inspect(material.ca.certPem).notAfter.getTime() <= horizon) return 'all';
  if (!material.serving || !verifies(material.ca.certPem, material.serving.certPem)) return 'serving';
  const info = inspect(material.serving.certPem);
  if (info.notAfter.getTime() <= horizon) return 'serving';
  const covers = want.dnsNames.every((d) => info.dnsNames.includes(d)) && want.ipAddresses.every((ip) => info.ipAddresses.includes(ip));
  return covers ? 'none' : 'serving';
}
