// The audit log of a proxy (Deployment pods and injected sidecars): the proxy appends its hash-chained decisions to a
// file in an emptyDir volume (the root filesystem is read-only), rotates it by size and keeps a
// bounded number of rotated files, so the volume never outgrows its limit. Read it with
// `kubectl clarus audit verify|tail|query --pod POD` (docs/operations.md), or ship the directory to
// append-only storage with a log shipper; the chain continues across the files.
export const AUDIT_VOLUME = 'clarus-audit';
export const AUDIT_DIR = '/var/log/clarus';
export const AUDIT_FILE = `${AUDIT_DIR}/audit.jsonl`;
export const AUDIT_MAX_BYTES = 16 << 20;
export const AUDIT_MAX_FILES = 16;
/** Room for the active file and AUDIT_MAX_FILES rotated ones, with slack. */
export const AUDIT_VOLUME_LIMIT = '320Mi';

export const AUDIT_ENV = [
  { name: 'CLARUS_AUDIT_LOG', value: AUDIT_FILE },
  { name: 'CLARUS_AUDIT_MAX_BYTES', value: String(AUDIT_MAX_BYTES) },
  { name: 'CLARUS_AUDIT_MAX_FILES', value: String(AUDIT_MAX_FILES) },
];

export const auditVolume = (): Record<string, unknown> => ({ name: AUDIT_VOLUME, emptyDir: { sizeLimit: AUDIT_VOLUME_LIMIT } });
export const auditMount = (): Record<string, unknown> => ({ name: AUDIT_VOLUME, mountPath: AUDIT_DIR });
