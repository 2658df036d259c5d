// SCRAM-SHA-256 verifiers in PostgreSQL's format (RFC 5802/7677):
// SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';

export const SCRAM_ITERATIONS = 4096;

export function scramVerifier(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): string {
  // NFKC is the normalisation step of SASLprep, which libpq and the server apply to passwords.
  const salted = pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * Deterministic salt, so rendering twice gives the same verifier and the same config hash. It is
 * keyed with a secret master key: a salt derived from the password alone would be a fast
 * unsalted hash of it, and SCRAM sends the salt to any client that merely names the user.
 */
export function deterministicSalt(secretKey: Buffer, scope: string, password: string): Buffer {
  return createHmac('sha256', secretKey).update(`clarus-scram-salt\0${scope}\0${password}`).digest().subarray(0, 16);
}
