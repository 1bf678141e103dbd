// PostgreSQL store (pg pool) for operators who outgrow one machine: the service keeps no state
// in memory, so several instances can share this store. Activation locks the challenge and the
// device rows (SELECT ... FOR UPDATE), so of two concurrent activations of one TPM one wins.
import pg from 'pg';
import { ProvisioningError } from '../errors.ts';
import { CommitQueue, type Settled } from './commit-queue.ts';
import { MIGRATIONS } from './migrations.ts';
import { activateGroup, insertChallenges } from './postgres-groups.ts';
import { fileWholeBatch } from './batch-writer.ts';
import { openPostgresBatch } from './postgres-copy-ingest.ts';
import { acceptVendorBundleSql, buf, publishManifestSql, recordRotationSql, rootRotationsSql, rowToRotation, rowToVendorBundle, rowToBatch, rowToChallenge, rowToDevice, rowToManifest, rowToManufacturer, rowToRevocation, rowToState, type Row } from './rows.ts';
import { revocationStep } from './activation-rules.ts';
import type {
  ActivationInput, ActivationOutcome, BatchInput, BatchOpening, BatchRecord, BatchWriter, ChallengeRecord, DeviceRecord, DeviceState, FileOutcome,
  ListOptions, ManufacturerRecord, NewDevice, ProvisioningStore, RevocationEntry, RevokeOutcome, StoredManifest, StoredRotation, VendorBundleRecord,
} from './types.ts';

export interface PostgresStoreOptions {
  /** Schema to use (search_path); created if missing. Tests isolate each run in a fresh schema. */
  readonly schema?: string;
  readonly max?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
// Serializes migrations of instances starting at the same time (any constant works).
const MIGRATION_LOCK = 0x62746e31;
// Groups of one kind (activations, new challenges, lookups) in flight at once: commits wait on
// the server, and more in flight keep it busy; four kinds of two stay within the default pool.
const GROUPS_IN_FLIGHT = 2;

export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new ProvisioningError('ERR_PROV_STORE_URL', `schema name "${options.schema.slice(0, 70)}" must match ${SCHEMA_NAME}`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  });
  // An idle client's connection error must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  const store = new PostgresStore(pool);
  try {
    await store.migrate(options.schema);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw wrap(err);
  }
  return store;
}

function wrap(err: unknown): Error {
  if (err instanceof ProvisioningError) return err;
  return new ProvisioningError('ERR_PROV_STORE', `PostgreSQL store: ${(err as Error).message}`, undefined, { cause: err });
}

const DEVICE_COLUMNS = 'ek_name, node_id, ek_public, ek_certificate, sealing_public, serial, board, batch_id, manufacturer, state, certificate, filed_at, activated_at, revoked_at, revoke_reason, broker_generation';

export class PostgresStore implements ProvisioningStore {
  readonly kind = 'postgres' as const;
  readonly fileWhileChecking = true;
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async migrate(schema?: string): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      if (schema !== undefined) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const applied = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => Number(r['version'])));
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await c.query(m.postgres);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
  }

  async addManufacturer(m: ManufacturerRecord): Promise<'added' | 'exists'> {
    return this.#tx(async (c) => {
      const r = await c.query('INSERT INTO manufacturers (name, public_key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [m.name, buf(m.publicKey), m.createdAt]);
      if (r.rowCount === 1) return 'added';
      const existing = rowToManufacturer((await c.query('SELECT * FROM manufacturers WHERE name = $1', [m.name])).rows[0] as Row);
      if (Buffer.compare(existing.publicKey, m.publicKey) !== 0) {
        throw new ProvisioningError('ERR_PROV_MANUFACTURER_CONFLICT', `manufacturer "${m.name}" is registered with another public key`, 'name');
      }
      return 'exists';
    });
  }

  async getManufacturer(name: string): Promise<ManufacturerRecord | null> {
    const row = await this.#one('SELECT * FROM manufacturers WHERE name = $1', [name]);
    return row === null ? null : rowToManufacturer(row);
  }

  async listManufacturers(): Promise<ManufacturerRecord[]> {
    return (await this.#query('SELECT * FROM manufacturers ORDER BY name', [])).map(rowToManufacturer);
  }

  async fileBatch(batch: BatchInput, devices: readonly NewDevice[]): Promise<FileOutcome[]> {
    return fileWholeBatch(this, batch, devices);
  }

  async openBatch(batch: BatchOpening): Promise<BatchWriter> {
    const client = await this.#connect();
    return openPostgresBatch(client, batch, (err) => client.release(err), wrap);
  }

  async getBatch(id: string): Promise<BatchRecord | null> {
    const row = await this.#one('SELECT * FROM batches WHERE id = $1', [id]);
    return row === null ? null : rowToBatch(row);
  }

  async getDevice(ekName: string): Promise<DeviceRecord | null> {
    const row = await this.#devices.push(ekName);
    return row === null ? null : rowToDevice(row);
  }

  // Concurrent lookups by key (each activation reads its challenge and its device) share one
  // query: a round trip to the server costs more than the rows.
  readonly #devices = this.#lookup(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE ek_name = ANY($1::text[])`, 'ek_name');
  readonly #challengeRows = this.#lookup('SELECT * FROM challenges WHERE id = ANY($1::text[])', 'id');

  #lookup(sql: string, key: string): CommitQueue<string, Row | null> {
    return new CommitQueue<string, Row | null>(async (keys) => {
      const rows = new Map((await this.#query(sql, [[...new Set(keys)]])).map((r) => [String(r[key]), r]));
      return keys.map((k) => ({ ok: true, value: rows.get(k) ?? null }));
    }, { wrapError: wrap, concurrency: GROUPS_IN_FLIGHT });
  }

  async getNode(nodeId: string): Promise<DeviceRecord | null> {
    const row = await this.#one(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE node_id = $1`, [nodeId]);
    return row === null ? null : rowToDevice(row);
  }

  async listDevices(o: ListOptions): Promise<DeviceRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (o.state !== undefined) { args.push(o.state); where.push(`state = $${args.length}`); }
    if (o.after !== undefined) { args.push(o.after); where.push(`node_id > $${args.length}`); }
    args.push(o.limit);
    const sql = `SELECT ${DEVICE_COLUMNS} FROM devices ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY node_id LIMIT $${args.length}`;
    return (await this.#query(sql, args)).map(rowToDevice);
  }

  async countDevices(): Promise<Record<DeviceState, number>> {
    const out: Record<DeviceState, number> = { filed: 0, active: 0, revoked: 0 };
    for (const r of await this.#query('SELECT state, COUNT(*) AS n FROM devices GROUP BY state', [])) out[r['state'] as DeviceState] = Number(r['n']);
    return out;
  }

  async createChallenge(ch: ChallengeRecord): Promise<void> {
    await this.#challenges.push(ch);
  }

  // Concurrent challenges go in one multi-row INSERT; should it be refused (a duplicate id, an
  // unknown EK), each is inserted alone, in order, so only the refused one fails.
  readonly #challenges = new CommitQueue<ChallengeRecord, undefined>(async (items) => {
    if (items.length > 1) {
      try {
        await insertChallenges(this.#pool, items);
        return items.map(() => ({ ok: true, value: undefined }));
      } catch {
        // falls through to one at a time
      }
    }
    const out: Settled<undefined>[] = [];
    for (const ch of items) {
      try {
        await insertChallenges(this.#pool, [ch]);
        out.push({ ok: true, value: undefined });
      } catch (error) {
        out.push({ ok: false, error: wrap(error) });
      }
    }
    return out;
  }, { wrapError: wrap, concurrency: GROUPS_IN_FLIGHT });

  async getChallenge(id: string): Promise<ChallengeRecord | null> {
    const row = await this.#challengeRows.push(id);
    return row === null ? null : rowToChallenge(row);
  }

  async pruneChallenges(before: number): Promise<number> {
    try {
      return (await this.#pool.query('DELETE FROM challenges WHERE expires_at < $1', [before])).rowCount ?? 0;
    } catch (err) {
      throw wrap(err);
    }
  }

  async completeActivation(a: ActivationInput): Promise<ActivationOutcome> {
    return this.#activations.push(a);
  }

  // Group commit of activations (postgres-groups.ts). A group whose queries fail before COMMIT
  // (a lost connection, a deadlock) rolled back whole: each of its activations is then tried in
  // a transaction of its own, so each gets its own outcome. A failed COMMIT is not retried: it
  // may have committed, and a retry would answer "used" for a completed activation.
  readonly #activations = new CommitQueue<ActivationInput, ActivationOutcome>(async (items) => {
    if (items.length > 1) {
      const client = await this.#connect();
      let outcomes: ActivationOutcome[] | null = null;
      try {
        await client.query('BEGIN');
        outcomes = await activateGroup(client, items);
      } catch {
        await client.query('ROLLBACK').catch(() => undefined);
      }
      try {
        if (outcomes !== null) {
          await client.query('COMMIT');
          return outcomes.map((value) => ({ ok: true, value }));
        }
      } finally {
        client.release();
      }
    }
    const out: Settled<ActivationOutcome>[] = [];
    for (const a of items) {
      try {
        out.push({ ok: true, value: await this.#activateOne(a) });
      } catch (error) {
        out.push({ ok: false, error: wrap(error) });
      }
    }
    return out;
  }, { wrapError: wrap, concurrency: GROUPS_IN_FLIGHT });

  /** One activation in a transaction of its own: the fallback of a group that failed. */
  async #activateOne(a: ActivationInput): Promise<ActivationOutcome> {
    return this.#tx(async (c) => (await activateGroup(c, [a]))[0]!);
  }

  async revoke(r: { nodeId: string; reason: string; now: number }): Promise<RevokeOutcome> {
    return this.#tx(async (c): Promise<RevokeOutcome> => {
      const row = (await c.query('SELECT ek_name, state FROM devices WHERE node_id = $1 FOR UPDATE', [r.nodeId])).rows[0] as Row | undefined;
      const step = revocationStep(row === undefined ? undefined : rowToState(row));
      const outcome: RevokeOutcome['outcome'] = step === 'revoke' ? 'revoked' : step;
      if (step === 'revoke') {
        await c.query("UPDATE devices SET state = 'revoked', revoked_at = $1, revoke_reason = $2 WHERE node_id = $3", [r.now, r.reason, r.nodeId]);
        await c.query('INSERT INTO revocations (node_id, ek_name, reason, revoked_at) VALUES ($1, $2, $3, $4)', [r.nodeId, row!['ek_name'], r.reason, r.now]);
      }
      const v = (await c.query('SELECT COALESCE(MAX(version), 0) AS v FROM revocations')).rows[0] as Row;
      return { outcome, version: Number(v['v']) };
    });
  }

  async revocations(): Promise<{ version: number; entries: RevocationEntry[] }> {
    const entries = (await this.#query('SELECT * FROM revocations ORDER BY version', [])).map(rowToRevocation);
    return { version: entries.length === 0 ? 0 : entries[entries.length - 1]!.version, entries };
  }

  async networkManifest(): Promise<StoredManifest | null> {
    const row = await this.#one('SELECT network, version, manifest, published_at FROM network_manifest WHERE id = 1', []);
    return row === null ? null : rowToManifest(row);
  }

  async publishManifest(m: StoredManifest): Promise<'published' | 'stale'> {
    // One statement, its own transaction: concurrent upserts of the one row serialize on it.
    try {
      const r = await this.#pool.query(publishManifestSql(['$1', '$2', '$3', '$4']), [m.network, m.version, m.manifest, m.publishedAt]);
      return r.rowCount === 1 ? 'published' : 'stale';
    } catch (err) {
      throw wrap(err);
    }
  }

  async recordRotation(r: StoredRotation): Promise<'recorded' | 'held'> {
    try {
      const res = await this.#pool.query(recordRotationSql(['$1', '$2', '$3', '$4', '$5', '$6']), [r.network, r.version, r.previousKey, r.nextKey, r.manifest, r.recordedAt]);
      return res.rowCount === 1 ? 'recorded' : 'held';
    } catch (err) {
      throw wrap(err);
    }
  }

  async rootRotations(network: string, limit: number): Promise<StoredRotation[]> {
    return (await this.#query(rootRotationsSql('$1', '$2'), [network, limit])).map(rowToRotation);
  }

  async acceptVendorBundle(b: VendorBundleRecord): Promise<{ readonly accepted: boolean; readonly stored: VendorBundleRecord }> {
    return this.#tx(async (c) => {
      const r = await c.query(acceptVendorBundleSql(['$1', '$2', '$3']), [b.version, b.sha256, b.loadedAt]);
      const row = (await c.query('SELECT version, sha256, loaded_at FROM vendor_ca_bundle WHERE id = 1', [])).rows[0] as Row;
      return { accepted: r.rowCount === 1, stored: rowToVendorBundle(row) };
    });
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1', []);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  async #query(sql: string, args: unknown[]): Promise<Row[]> {
    try {
      return (await this.#pool.query(sql, args)).rows as Row[];
    } catch (err) {
      throw wrap(err);
    }
  }

  async #one(sql: string, args: unknown[]): Promise<Row | null> {
    return (await this.#query(sql, args))[0] ?? null;
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw wrap(err);
    }
  }

  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw wrap(err);
    } finally {
      client.release();
    }
  }
}
