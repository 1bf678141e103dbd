// Numbered schema migrations, one SQL text per dialect. Applied in order at start inside one
// transaction and recorded in schema_migrations; never edit a released migration, add one.

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  readonly postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'manufacturers, batches, devices, challenges, revocations',
    sqlite: `
      CREATE TABLE manufacturers (
        name TEXT PRIMARY KEY,
        public_key BLOB NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        manufacturer TEXT NOT NULL REFERENCES manufacturers(name),
        manifest_sha256 TEXT NOT NULL,
        signature BLOB NOT NULL,
        line_count INTEGER NOT NULL,
        filed INTEGER NOT NULL,
        duplicates INTEGER NOT NULL,
        conflicts INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        uploaded_at INTEGER NOT NULL
      );
      CREATE TABLE devices (
        ek_name TEXT PRIMARY KEY,
        node_id TEXT NOT NULL UNIQUE,
        ek_public BLOB NOT NULL,
        ek_certificate BLOB NOT NULL,
        sealing_public BLOB NOT NULL,
        serial TEXT NOT NULL,
        board TEXT NOT NULL,
        batch_id TEXT NOT NULL REFERENCES batches(id),
        manufacturer TEXT NOT NULL REFERENCES manufacturers(name),
        state TEXT NOT NULL CHECK (state IN ('filed', 'active', 'revoked')),
        certificate TEXT,
        filed_at INTEGER NOT NULL,
        activated_at INTEGER,
        revoked_at INTEGER,
        revoke_reason TEXT
      );
      CREATE INDEX devices_state_node ON devices (state, node_id);
      CREATE TABLE challenges (
        id TEXT PRIMARY KEY,
        ek_name TEXT NOT NULL REFERENCES devices(ek_name),
        secret_hash BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      );
      CREATE INDEX challenges_expires ON challenges (expires_at);
      CREATE TABLE revocations (
        version INTEGER PRIMARY KEY AUTOINCREMENT,
        node_id TEXT NOT NULL UNIQUE REFERENCES devices(node_id),
        ek_name TEXT NOT NULL,
        reason TEXT NOT NULL,
        revoked_at INTEGER NOT NULL
      );`,
    postgres: `
      CREATE TABLE manufacturers (
        name TEXT PRIMARY KEY,
        public_key BYTEA NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        manufacturer TEXT NOT NULL REFERENCES manufacturers(name),
        manifest_sha256 TEXT NOT NULL,
        signature BYTEA NOT NULL,
        line_count INTEGER NOT NULL,
        filed INTEGER NOT NULL,
        duplicates INTEGER NOT NULL,
        conflicts INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        uploaded_at BIGINT NOT NULL
      );
      CREATE TABLE devices (
        ek_name TEXT PRIMARY KEY,
        node_id TEXT NOT NULL UNIQUE,
        ek_public BYTEA NOT NULL,
        ek_certificate BYTEA NOT NULL,
        sealing_public BYTEA NOT NULL,
        serial TEXT NOT NULL,
        board TEXT NOT NULL,
        batch_id TEXT NOT NULL REFERENCES batches(id),
        manufacturer TEXT NOT NULL REFERENCES manufacturers(name),
        state TEXT NOT NULL CHECK (state IN ('filed', 'active', 'revoked')),
        certificate TEXT,
        filed_at BIGINT NOT NULL,
        activated_at BIGINT,
        revoked_at BIGINT,
        revoke_reason TEXT
      );
      CREATE INDEX devices_state_node ON devices (state, node_id);
      CREATE TABLE challenges (
        id TEXT PRIMARY KEY,
        ek_name TEXT NOT NULL REFERENCES devices(ek_name),
        secret_hash BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
      );
      CREATE INDEX challenges_expires ON challenges (expires_at);
      CREATE TABLE revocations (
        version BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        node_id TEXT NOT NULL UNIQUE REFERENCES devices(node_id),
        ek_name TEXT NOT NULL,
        reason TEXT NOT NULL,
        revoked_at BIGINT NOT NULL
      );`,
  },
  {
    version: 2,
    name: 'network_manifest: the current root-signed network manifest',
    // One row (id 1): the manifest the registrar serves, as signed JSON text. Replaced only by a
    // higher version (publishManifest's upsert), so an older manifest can never come back.
    sqlite: `
      CREATE TABLE network_manifest (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        network TEXT NOT NULL,
        version INTEGER NOT NULL,
        manifest TEXT NOT NULL,
        published_at INTEGER NOT NULL
      );`,
    postgres: `
      CREATE TABLE network_manifest (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        network TEXT NOT NULL,
        version BIGINT NOT NULL,
        manifest TEXT NOT NULL,
        published_at BIGINT NOT NULL
      );`,
  },
  {
    version: 3,
    name: 'devices.broker_generation: activations completed, each rotating the broker secret',
    // Counted up by every (re-)activation in the same transaction; the root derives the broker
    // secret from it, so any instance can put the newest generation's password back.
    sqlite: 'ALTER TABLE devices ADD COLUMN broker_generation INTEGER NOT NULL DEFAULT 0;',
    postgres: 'ALTER TABLE devices ADD COLUMN broker_generation BIGINT NOT NULL DEFAULT 0;',
  },
  {
    version: 4,
    name: 'challenges.generation: the device\'s broker generation when the challenge was issued',
    // A proof completes only while the device is still at that generation: of concurrent
    // activations of one TPM exactly one wins (activation-rules.ts staleChallenge).
    sqlite: 'ALTER TABLE challenges ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;',
    postgres: 'ALTER TABLE challenges ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;',
  },
  {
    version: 5,
    name: 'vendor_ca_bundle: the highest signed vendor CA bundle version loaded',
    // One row (id 1): an older bundle, or another with the same version, is refused after.
    sqlite: `
      CREATE TABLE vendor_ca_bundle (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        loaded_at INTEGER NOT NULL
      );`,
    postgres: `
      CREATE TABLE vendor_ca_bundle (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        loaded_at BIGINT NOT NULL
      );`,
  },
  {
    version: 6,
    name: 'root_rotations: every manifest that announced a root key rotation',
    // One row per retiring key: the first manifest it signed that announces its successor. Kept
    // for ever (never replaced), so a node given an old root key can walk to the current one.
    sqlite: `
      CREATE TABLE root_rotations (
        network TEXT NOT NULL,
        version INTEGER NOT NULL,
        previous_key TEXT NOT NULL,
        next_key TEXT NOT NULL,
        manifest TEXT NOT NULL,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (network, version),
        UNIQUE (network, previous_key)
      );`,
    postgres: `
      CREATE TABLE root_rotations (
        network TEXT NOT NULL,
        version BIGINT NOT NULL,
        previous_key TEXT NOT NULL,
        next_key TEXT NOT NULL,
        manifest TEXT NOT NULL,
        recorded_at BIGINT NOT NULL,
        PRIMARY KEY (network, version),
        UNIQUE (network, previous_key)
      );`,
  },
];
