// SQLite store (better-sqlite3): one file, WAL, synchronous=FULL so a committed activation or
// batch survives a power cut. Write transactions are BEGIN IMMEDIATE: several processes may
// share the file, and a transaction never upgrades from read to write halfway (SQLITE_BUSY).
import Database from 'better-sqlite3';
import { ProvisioningError } from '../errors.ts';
import { CommitQueue, type Settled } from './commit-queue.ts';
import { SqliteBatches } from './sqlite-batch.ts';
import { MIGRATIONS } from './migrations.ts';
import type {
  ActivationInput, ActivationOutcome, BatchInput, BatchOpening, BatchRecord, BatchWriter, ChallengeRecord, DeviceRecord, DeviceState, FileOutcome,
  ListOptions, ManufacturerRecord, NewDevice, ProvisioningStore, RevocationEntry, RevokeOutcome, StoredManifest, StoredRotation, VendorBundleRecord,
} from './types.ts';
import { fileWholeBatch } from './batch-writer.ts';
import { acceptVendorBundleSql, buf, publishManifestSql, recordRotationSql, rootRotationsSql, rowToRotation, rowToVendorBundle, rowToBatch, rowToChallenge, rowToDevice, rowToManifest, rowToManufacturer, rowToRevocation, type Row } from './rows.ts';
import { challengeRefusal, deviceRefusal, revocationStep, staleChallenge } from './activation-rules.ts';

export function openSqliteStore(path: string): SqliteStore {
  const db = connect(path);
  migrate(db);
  return new SqliteStore(db);
}

function connect(path: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_STORE', `cannot open SQLite store ${path}: ${(err as Error).message}`, undefined, { cause: err });
  }
  return db;
}

function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      db.exec(m.sqlite);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
  }).immediate();
}

const DEVICE_COLUMNS = 'ek_name, node_id, ek_public, ek_certificate, sealing_public, serial, board, batch_id, manufacturer, state, certificate, filed_at, activated_at, revoked_at, revoke_reason, broker_generation';

export class SqliteStore implements ProvisioningStore {
  readonly kind = 'sqlite' as const;
  readonly fileWhileChecking = false;
  readonly #db: Database.Database;
  readonly #s;
  readonly #batches: SqliteBatches;

  constructor(db: Database.Database) {
    this.#db = db;
    // a batch's transaction on a connection of its own (an in-memory database has only this one)
    this.#batches = new SqliteBatches(() => (db.memory ? db : connect(db.name)), storeError);
    this.#s = {
      addManufacturer: db.prepare('INSERT INTO manufacturers (name, public_key, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      getManufacturer: db.prepare('SELECT name, public_key, created_at FROM manufacturers WHERE name = ?'),
      listManufacturers: db.prepare('SELECT name, public_key, created_at FROM manufacturers ORDER BY name'),
      getBatch: db.prepare('SELECT * FROM batches WHERE id = ?'),
      getDevice: db.prepare(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE ek_name = ?`),
      getNode: db.prepare(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE node_id = ?`),
      countDevices: db.prepare('SELECT state, COUNT(*) AS n FROM devices GROUP BY state'),
      createChallenge: db.prepare('INSERT INTO challenges (id, ek_name, secret_hash, created_at, expires_at, used_at, generation) VALUES (?, ?, ?, ?, ?, NULL, ?)'),
      getChallenge: db.prepare('SELECT * FROM challenges WHERE id = ?'),
      pruneChallenges: db.prepare('DELETE FROM challenges WHERE expires_at < ?'),
      useChallenge: db.prepare('UPDATE challenges SET used_at = ? WHERE id = ? AND used_at IS NULL'),
      // activated_at stays the first activation's; a re-activation renews the certificate.
      activate: db.prepare(`UPDATE devices SET state = 'active', certificate = ?, activated_at = COALESCE(activated_at, ?), broker_generation = broker_generation + 1
        WHERE ek_name = ? AND state IN ('filed', 'active') RETURNING broker_generation`),
      revokeDevice: db.prepare("UPDATE devices SET state = 'revoked', revoked_at = ?, revoke_reason = ? WHERE node_id = ? AND state <> 'revoked'"),
      insertRevocation: db.prepare('INSERT INTO revocations (node_id, ek_name, reason, revoked_at) VALUES (?, ?, ?, ?)'),
      revocationVersion: db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM revocations'),
      revocations: db.prepare('SELECT * FROM revocations ORDER BY version'),
      networkManifest: db.prepare('SELECT network, version, manifest, published_at FROM network_manifest WHERE id = 1'),
      publishManifest: db.prepare(publishManifestSql(['?', '?', '?', '?'])),
      recordRotation: db.prepare(recordRotationSql(['?', '?', '?', '?', '?', '?'])),
      rootRotations: db.prepare(rootRotationsSql('?', '?')),
      acceptVendorBundle: db.prepare(acceptVendorBundleSql(['?', '?', '?'])),
      vendorBundle: db.prepare('SELECT version, sha256, loaded_at FROM vendor_ca_bundle WHERE id = 1'),
    };
  }

  async addManufacturer(m: ManufacturerRecord): Promise<'added' | 'exists'> {
    return this.#write(() => {
      if (this.#s.addManufacturer.run(m.name, buf(m.publicKey), m.createdAt).changes === 1) return 'added';
      const existing = rowToManufacturer(this.#s.getManufacturer.get(m.name) as Row);
      if (Buffer.compare(existing.publicKey, m.publicKey) !== 0) {
        throw new ProvisioningError('ERR_PROV_MANUFACTURER_CONFLICT', `manufacturer "${m.name}" is registered with another public key`, 'name');
      }
      return 'exists';
    });
  }

  async getManufacturer(name: string): Promise<ManufacturerRecord | null> {
    return this.#run(() => {
      const row = this.#s.getManufacturer.get(name) as Row | undefined;
      return row === undefined ? null : rowToManufacturer(row);
    });
  }

  async listManufacturers(): Promise<ManufacturerRecord[]> {
    return this.#run(() => (this.#s.listManufacturers.all() as Row[]).map(rowToManufacturer));
  }

  async fileBatch(batch: BatchInput, devices: readonly NewDevice[]): Promise<FileOutcome[]> {
    return fileWholeBatch(this, batch, devices);
  }

  async openBatch(batch: BatchOpening): Promise<BatchWriter> {
    return this.#batches.open(batch);
  }

  async getBatch(id: string): Promise<BatchRecord | null> {
    return this.#run(() => {
      const row = this.#s.getBatch.get(id) as Row | undefined;
      return row === undefined ? null : rowToBatch(row);
    });
  }

  async getDevice(ekName: string): Promise<DeviceRecord | null> {
    return this.#run(() => {
      const row = this.#s.getDevice.get(ekName) as Row | undefined;
      return row === undefined ? null : rowToDevice(row);
    });
  }

  async getNode(nodeId: string): Promise<DeviceRecord | null> {
    return this.#run(() => {
      const row = this.#s.getNode.get(nodeId) as Row | undefined;
      return row === undefined ? null : rowToDevice(row);
    });
  }

  async listDevices(o: ListOptions): Promise<DeviceRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (o.state !== undefined) { where.push('state = ?'); args.push(o.state); }
    if (o.after !== undefined) { where.push('node_id > ?'); args.push(o.after); }
    const sql = `SELECT ${DEVICE_COLUMNS} FROM devices ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY node_id LIMIT ?`;
    return this.#run(() => (this.#db.prepare(sql).all(...args, o.limit) as Row[]).map(rowToDevice));
  }

  async countDevices(): Promise<Record<DeviceState, number>> {
    return this.#run(() => {
      const out: Record<DeviceState, number> = { filed: 0, active: 0, revoked: 0 };
      for (const r of this.#s.countDevices.all() as { state: DeviceState; n: number }[]) out[r.state] = Number(r.n);
      return out;
    });
  }

  async createChallenge(c: ChallengeRecord): Promise<void> {
    await this.#grouped(() => this.#s.createChallenge.run(c.id, c.ekName, buf(c.secretHash), c.createdAt, c.expiresAt, c.generation));
  }

  async getChallenge(id: string): Promise<ChallengeRecord | null> {
    return this.#run(() => {
      const row = this.#s.getChallenge.get(id) as Row | undefined;
      return row === undefined ? null : rowToChallenge(row);
    });
  }

  async pruneChallenges(before: number): Promise<number> {
    return this.#grouped(() => this.#s.pruneChallenges.run(before).changes);
  }

  async completeActivation(a: ActivationInput): Promise<ActivationOutcome> {
    return this.#grouped((): ActivationOutcome => {
      const row = this.#s.getChallenge.get(a.challengeId) as Row | undefined;
      const ch = row === undefined ? undefined : rowToChallenge(row);
      const refused = challengeRefusal(ch, a);
      if (refused !== null || ch === undefined) return { ok: false, reason: refused ?? 'challenge-unknown' };
      const dev = this.#s.getDevice.get(ch.ekName) as Row | undefined;
      const device = dev === undefined ? undefined : rowToDevice(dev);
      const state = device?.state;
      const refusedDevice = deviceRefusal(state) ?? staleChallenge(ch, device!.brokerGeneration);
      if (refusedDevice !== null) return { ok: false, reason: refusedDevice };
      this.#s.useChallenge.run(a.now, a.challengeId);
      const g = this.#s.activate.get(a.certificate, a.now, ch.ekName) as Row;
      return { ok: true, brokerGeneration: Number(g['broker_generation']), reactivated: state === 'active' };
    });
  }

  async revoke(r: { nodeId: string; reason: string; now: number }): Promise<RevokeOutcome> {
    return this.#grouped((): RevokeOutcome => {
      const row = this.#s.getNode.get(r.nodeId) as Row | undefined;
      const dev = row === undefined ? undefined : rowToDevice(row);
      const step = revocationStep(dev?.state);
      const outcome: RevokeOutcome['outcome'] = step === 'revoke' ? 'revoked' : step;
      if (step === 'revoke') {
        this.#s.revokeDevice.run(r.now, r.reason, r.nodeId);
        this.#s.insertRevocation.run(r.nodeId, dev!.ekName, r.reason, r.now);
      }
      return { outcome, version: Number((this.#s.revocationVersion.get() as { v: number }).v) };
    });
  }

  async revocations(): Promise<{ version: number; entries: RevocationEntry[] }> {
    return this.#run(() => this.#db.transaction(() => {
      const entries = (this.#s.revocations.all() as Row[]).map(rowToRevocation);
      return { version: entries.length === 0 ? 0 : entries[entries.length - 1]!.version, entries };
    })());
  }

  async networkManifest(): Promise<StoredManifest | null> {
    return this.#run(() => {
      const row = this.#s.networkManifest.get() as Row | undefined;
      return row === undefined ? null : rowToManifest(row);
    });
  }

  async publishManifest(m: StoredManifest): Promise<'published' | 'stale'> {
    return this.#grouped(() => (this.#s.publishManifest.run(m.network, m.version, m.manifest, m.publishedAt).changes === 1 ? 'published' : 'stale'));
  }

  async recordRotation(r: StoredRotation): Promise<'recorded' | 'held'> {
    return this.#write(() => (this.#s.recordRotation.run(r.network, r.version, r.previousKey, r.nextKey, r.manifest, r.recordedAt).changes === 1 ? 'recorded' : 'held'));
  }

  async rootRotations(network: string, limit: number): Promise<StoredRotation[]> {
    return this.#run(() => (this.#s.rootRotations.all(network, limit) as Row[]).map(rowToRotation));
  }

  async acceptVendorBundle(b: VendorBundleRecord): Promise<{ readonly accepted: boolean; readonly stored: VendorBundleRecord }> {
    return this.#grouped(() => {
      const accepted = this.#s.acceptVendorBundle.run(b.version, b.sha256, b.loadedAt).changes === 1;
      return { accepted, stored: rowToVendorBundle(this.#s.vendorBundle.get() as Row) };
    });
  }

  async ping(): Promise<void> {
    this.#run(() => this.#db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    if (!this.#db.memory) this.#batches.close();
    if (this.#db.open) this.#db.close();
  }

  // Group commit (commit-queue.ts): small writes share one IMMEDIATE transaction and so one
  // fsync (synchronous=FULL costs ~0.4 ms per commit here). Each op runs in its own savepoint, so
  // one failing op rolls back only itself. better-sqlite3 commits synchronously, so a group is
  // what arrived in one event-loop turn.
  readonly #writes = new CommitQueue<() => unknown, unknown>((ops) => this.#batches.whenIdle(() => this.#commitGroup(ops)), { wrapError: storeError });

  /** A write outside the group commit: after the open batch, if any (SQLite has one writer). */
  #write<T>(fn: () => T): Promise<T> {
    return this.#batches.whenIdle(() => this.#run(fn));
  }

  #grouped<T>(op: () => T): Promise<T> {
    return this.#writes.push(op) as Promise<T>;
  }

  #commitGroup(ops: readonly (() => unknown)[]): Settled<unknown>[] {
    const results: Settled<unknown>[] = [];
    this.#db.transaction(() => {
      for (const op of ops) {
        try {
          results.push({ ok: true, value: this.#db.transaction(op)() });
        } catch (error) {
          results.push({ ok: false, error: storeError(error) });
        }
      }
    }).immediate();
    return results;
  }

  #run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storeError(err);
    }
  }
}

function storeError(err: unknown): ProvisioningError {
  if (err instanceof ProvisioningError) return err;
  return new ProvisioningError('ERR_PROV_STORE', `SQLite store: ${(err as Error).message}`, undefined, { cause: err });
}
