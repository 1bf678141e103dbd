// Row mapping shared by both stores (PostgreSQL returns BIGINT as strings, SQLite as numbers).
import type { BatchRecord, ChallengeRecord, DeviceRecord, DeviceState, ManufacturerRecord, NewDevice, RevocationEntry, StoredManifest, StoredRotation, VendorBundleRecord } from './types.ts';

export type Row = Record<string, unknown>;

const bytes = (v: unknown): Uint8Array => {
  const b = v as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};
/** A Buffer view (no copy) for drivers that bind only Buffers. */
export const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
// Drivers return text columns as strings; anything else is a schema bug, not data to stringify.
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v));

export function rowToManufacturer(r: Row): ManufacturerRecord {
  return { name: String(r['name']), publicKey: bytes(r['public_key']), createdAt: num(r['created_at']) };
}

export function rowToBatch(r: Row): BatchRecord {
  return {
    id: String(r['id']), manufacturer: String(r['manufacturer']), manifestSha256: String(r['manifest_sha256']),
    signature: bytes(r['signature']), lineCount: num(r['line_count']), filed: num(r['filed']), duplicates: num(r['duplicates']),
    conflicts: num(r['conflicts']), rejected: num(r['rejected']), uploadedAt: num(r['uploaded_at']),
  };
}

export function rowToDevice(r: Row): DeviceRecord {
  return {
    ekName: String(r['ek_name']), nodeId: String(r['node_id']), ekPublic: bytes(r['ek_public']),
    ekCertificate: bytes(r['ek_certificate']), sealingPublic: bytes(r['sealing_public']), serial: String(r['serial']),
    board: String(r['board']), batchId: String(r['batch_id']), manufacturer: String(r['manufacturer']),
    state: rowToState(r), certificate: strOrNull(r['certificate']), filedAt: num(r['filed_at']),
    activatedAt: numOrNull(r['activated_at']), revokedAt: numOrNull(r['revoked_at']), revokeReason: strOrNull(r['revoke_reason']),
    brokerGeneration: num(r['broker_generation']),
  };
}

/** The state column alone (a row selected for its state). */
export function rowToState(r: Row): DeviceState {
  const s = r['state'];
  if (s !== 'filed' && s !== 'active' && s !== 'revoked') throw new TypeError(`device row has state ${String(s).slice(0, 20)}, not filed/active/revoked`);
  return s;
}

export function rowToChallenge(r: Row): ChallengeRecord {
  return {
    id: String(r['id']), ekName: String(r['ek_name']), secretHash: bytes(r['secret_hash']),
    createdAt: num(r['created_at']), expiresAt: num(r['expires_at']), usedAt: numOrNull(r['used_at']), generation: num(r['generation']),
  };
}

export function rowToRevocation(r: Row): RevocationEntry {
  return {
    version: num(r['version']), nodeId: String(r['node_id']), ekName: String(r['ek_name']),
    reason: String(r['reason']), revokedAt: num(r['revoked_at']),
  };
}

export function rowToManifest(r: Row): StoredManifest {
  return { network: String(r['network']), version: num(r['version']), manifest: String(r['manifest']), publishedAt: num(r['published_at']) };
}

export function rowToRotation(r: Row): StoredRotation {
  return {
    network: String(r['network']), version: num(r['version']), previousKey: String(r['previous_key']), nextKey: String(r['next_key']),
    manifest: String(r['manifest']), recordedAt: num(r['recorded_at']),
  };
}

const ROTATION_INSERT = 'INSERT INTO root_rotations (network, version, previous_key, next_key, manifest, recorded_at) VALUES';

/** Both stores' insert: the first announcement of a retiring key (or of a version) stays. */
export const recordRotationSql = (p: readonly string[]): string => `${ROTATION_INSERT} (${p.join(', ')}) ON CONFLICT DO NOTHING`;

/** The newest `limit` rotations of a network, oldest first. */
export const rootRotationsSql = (network: string, limit: string): string => `SELECT * FROM (SELECT * FROM root_rotations WHERE network = ${network} ORDER BY version DESC LIMIT ${limit}) AS newest ORDER BY version`;

/**
 * Both stores' one statement: insert the row, or replace it only by a higher version. A single
 * statement is atomic in both dialects, so a concurrent publisher of a lower version cannot
 * overwrite a higher one between a read and a write. Placeholders: network, version, manifest,
 * published_at (`$n` for PostgreSQL, `?` for SQLite).
 */
export function publishManifestSql(placeholders: readonly [string, string, string, string]): string {
  const [n, v, m, t] = placeholders;
  return `INSERT INTO network_manifest (id, network, version, manifest, published_at) VALUES (1, ${n}, ${v}, ${m}, ${t})
    ON CONFLICT (id) DO UPDATE SET network = excluded.network, version = excluded.version, manifest = excluded.manifest, published_at = excluded.published_at
    WHERE network_manifest.version < excluded.version`;
}

/**
 * Both stores' one statement for acceptVendorBundle: insert the row, or replace it by a higher
 * version, or touch it for the same version and digest. Placeholders: version, sha256, loaded_at.
 */
export function acceptVendorBundleSql(placeholders: readonly [string, string, string]): string {
  const [v, h, t] = placeholders;
  return `INSERT INTO vendor_ca_bundle (id, version, sha256, loaded_at) VALUES (1, ${v}, ${h}, ${t})
    ON CONFLICT (id) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256, loaded_at = excluded.loaded_at
    WHERE vendor_ca_bundle.version < excluded.version OR (vendor_ca_bundle.version = excluded.version AND vendor_ca_bundle.sha256 = excluded.sha256)`;
}

export function rowToVendorBundle(r: Row): VendorBundleRecord {
  return { version: num(r['version']), sha256: String(r['sha256']), loadedAt: num(r['loaded_at']) };
}

/** Re-filing the same TPM with the same sealing key, serial and board is idempotent. */
export function sameDevice(existing: Pick<NewDevice, 'ekName' | 'nodeId' | 'serial' | 'board' | 'sealingPublic'>, d: NewDevice): boolean {
  return existing.ekName === d.ekName && existing.nodeId === d.nodeId && existing.serial === d.serial &&
    existing.board === d.board && Buffer.compare(existing.sealingPublic, d.sealingPublic) === 0;
}
