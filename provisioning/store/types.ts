// The registrar's store: one interface, two implementations (SQLite file, PostgreSQL). The
// service keeps no state in memory, so several instances can share one PostgreSQL.
// Times are Unix milliseconds. EK names are hex of SHA-256(EK TPMT_PUBLIC) (the EK's TPM name
// digest); node ids are hex of SHA-256(sealing key SPKI DER), the chain's keyFingerprint.

export type DeviceState = 'filed' | 'active' | 'revoked';
export const DEVICE_STATES: readonly DeviceState[] = ['filed', 'active', 'revoked'];

export interface ManufacturerRecord {
  readonly name: string;
  readonly publicKey: Uint8Array;
  readonly createdAt: number;
}

export interface BatchInput {
  /** hex, first 16 bytes of SHA-256 of the signed message: same manufacturer + same bytes = same id. */
  readonly id: string;
  readonly manufacturer: string;
  readonly manifestSha256: string;
  readonly signature: Uint8Array;
  readonly lineCount: number;
  /** Lines rejected before the store saw them (format, chain, attributes). */
  readonly rejected: number;
  readonly uploadedAt: number;
}

/** A batch as it is opened for filing: its line counts are known only when it is committed. */
export type BatchOpening = Omit<BatchInput, 'lineCount' | 'rejected'>;

/**
 * A batch being filed in one open transaction: devices are filed in calls while later lines are
 * still being checked, and nothing of the batch is visible to anyone until commit(). After a
 * failed file() or commit(), or instead of commit(), abort() rolls everything back.
 */
export interface BatchWriter {
  /** Files these devices after those of earlier calls; one outcome per device, in order. */
  file(devices: readonly NewDevice[]): Promise<FileOutcome[]>;
  /** Records the batch's counts and commits; resolves once the batch is durable. */
  commit(counts: { readonly lineCount: number; readonly rejected: number }): Promise<void>;
  /** Rolls the batch back; safe to call after a failure, and more than once. */
  abort(): Promise<void>;
}

export interface BatchRecord extends BatchInput {
  readonly filed: number;
  readonly duplicates: number;
  readonly conflicts: number;
}

export interface NewDevice {
  readonly ekName: string;
  readonly ekPublic: Uint8Array;
  readonly ekCertificate: Uint8Array;
  readonly sealingPublic: Uint8Array;
  readonly nodeId: string;
  readonly serial: string;
  readonly board: string;
}

export interface DeviceRecord extends NewDevice {
  readonly batchId: string;
  readonly manufacturer: string;
  readonly state: DeviceState;
  /** Registration certificate (JSON text) once active. */
  readonly certificate: string | null;
  readonly filedAt: number;
  readonly activatedAt: number | null;
  readonly revokedAt: number | null;
  readonly revokeReason: string | null;
  /** Activations completed (0 while filed): each one rotates the broker secret, derived from it. */
  readonly brokerGeneration: number;
}

/**
 * Per device of a batch: `filed` (new), `duplicate` (the same EK with the same sealing key,
 * serial and board is filed already: idempotent), `conflict` (the EK, or the sealing key, is
 * filed already with other data).
 */
export type FileOutcome = 'filed' | 'duplicate' | 'conflict';

export interface ChallengeRecord {
  readonly id: string;
  readonly ekName: string;
  /** SHA-256 of the secret; the secret itself is never stored. */
  readonly secretHash: Uint8Array;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly usedAt: number | null;
  /**
   * The device's broker generation (activations completed) when the challenge was issued: a
   * challenge answers for that state only, so of two proofs of one TPM issued alike, one wins.
   */
  readonly generation: number;
}

export interface ActivationInput {
  readonly challengeId: string;
  readonly secretHash: Uint8Array;
  readonly ekName: string;
  readonly certificate: string;
  readonly now: number;
}

export type ActivationFailure =
  | 'challenge-unknown' | 'challenge-used' | 'challenge-expired' | 'bad-proof'
  | 'not-filed' | 'revoked' | 'superseded';

export type ActivationOutcome =
  | { readonly ok: true; readonly brokerGeneration: number; readonly reactivated: boolean }
  | { readonly ok: false; readonly reason: ActivationFailure };

export interface RevocationEntry {
  readonly version: number;
  readonly nodeId: string;
  readonly ekName: string;
  readonly reason: string;
  readonly revokedAt: number;
}

export interface RevokeOutcome {
  readonly outcome: 'revoked' | 'already-revoked' | 'unknown';
  /** Revocation list version after the call (0 = empty list). */
  readonly version: number;
}

/** The network manifest the registrar serves: root-signed JSON text, verified before it was stored. */
export interface StoredManifest {
  readonly network: string;
  readonly version: number;
  /** The signed manifest as JSON text, served as it is. */
  readonly manifest: string;
  readonly publishedAt: number;
}

/** A manifest that announced a root key rotation, kept for the rotation chain. */
export interface StoredRotation {
  readonly network: string;
  readonly version: number;
  /** The retiring key and its successor, lowercase hex (the manifest's rootRotation). */
  readonly previousKey: string;
  readonly nextKey: string;
  /** The signed manifest as JSON text, served as it is. */
  readonly manifest: string;
  readonly recordedAt: number;
}

/** A signed vendor CA bundle as the store remembers it: the highest version loaded. */
export interface VendorBundleRecord {
  readonly version: number;
  /** hex SHA-256 of the bundle's signed content. */
  readonly sha256: string;
  readonly loadedAt: number;
}

export interface ListOptions {
  readonly state?: DeviceState;
  readonly limit: number;
  /** Keyset pagination: node ids greater than this one. */
  readonly after?: string;
}

export interface ProvisioningStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Whether ingest files into an open batch while later lines are still checked. Not on SQLite:
   * its one writer would hold every challenge and activation for the whole upload (seconds to
   * tens of seconds), where filing at the end holds them only for the inserts.
   */
  readonly fileWhileChecking: boolean;
  /** Adds a manufacturer; `exists` when the same name and key are there; throws MANUFACTURER_CONFLICT for another key. */
  addManufacturer(m: ManufacturerRecord): Promise<'added' | 'exists'>;
  getManufacturer(name: string): Promise<ManufacturerRecord | null>;
  listManufacturers(): Promise<ManufacturerRecord[]>;
  /** Files a batch in one transaction; one outcome per device, in order (openBatch, one file(), commit). */
  fileBatch(batch: BatchInput, devices: readonly NewDevice[]): Promise<FileOutcome[]>;
  /**
   * Opens a batch's transaction (on SQLite one at a time, and other writes wait until it ends).
   * The caller has verified the batch's signature before.
   */
  openBatch(batch: BatchOpening): Promise<BatchWriter>;
  getBatch(id: string): Promise<BatchRecord | null>;
  getDevice(ekName: string): Promise<DeviceRecord | null>;
  getNode(nodeId: string): Promise<DeviceRecord | null>;
  listDevices(options: ListOptions): Promise<DeviceRecord[]>;
  countDevices(): Promise<Record<DeviceState, number>>;
  createChallenge(c: ChallengeRecord): Promise<void>;
  getChallenge(id: string): Promise<ChallengeRecord | null>;
  /** Deletes challenges that expired before `before`; returns how many. */
  pruneChallenges(before: number): Promise<number>;
  /**
   * Atomically: the challenge exists, is unused, unexpired and its secret hash matches; the
   * device is filed or active (re-activation, renewal) but not revoked; then marks the challenge
   * used, the device active with the certificate, and counts its broker generation up by one.
   * On any failure nothing changes. Each challenge completes at most once.
   */
  completeActivation(a: ActivationInput): Promise<ActivationOutcome>;
  revoke(r: { nodeId: string; reason: string; now: number }): Promise<RevokeOutcome>;
  revocations(): Promise<{ version: number; entries: RevocationEntry[] }>;
  /** The current network manifest; null before the first is published. */
  networkManifest(): Promise<StoredManifest | null>;
  /**
   * Atomically replaces the current manifest when `m.version` is above it (or none is stored);
   * 'stale' (nothing changed) for a version at or below the stored one. Of concurrent publishers
   * the highest version stays. The caller has verified the manifest and its succession.
   */
  publishManifest(m: StoredManifest): Promise<'published' | 'stale'>;
  /**
   * Keeps `r` unless a rotation of the same network retiring the same key is kept already (the
   * first announcement stays; 'held' then). The caller has verified the manifest.
   */
  recordRotation(r: StoredRotation): Promise<'recorded' | 'held'>;
  /** The newest `limit` rotations of `network`, oldest first. */
  rootRotations(network: string, limit: number): Promise<StoredRotation[]>;
  /**
   * Atomically records `b` when no bundle was loaded, its version is higher, or it is the same
   * bundle again (version and digest); returns the record stored after the call, so
   * `accepted` false and the stored version say why an older or different bundle is refused.
   */
  acceptVendorBundle(b: VendorBundleRecord): Promise<{ readonly accepted: boolean; readonly stored: VendorBundleRecord }>;
    /** Health probe: a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
