// A batch filed into SQLite in one IMMEDIATE transaction that stays open while ingest still checks
// later lines. It runs on a connection of its own, so the store's readers keep seeing the last
// committed state meanwhile; SQLite has one writer, so the store's other writes wait for the
// batch to end (asynchronously: on this thread a busy wait would stall the batch itself).
import type Database from 'better-sqlite3';
import { buf, sameDevice, type Row } from './rows.ts';
import type { BatchOpening, BatchWriter, FileOutcome, NewDevice } from './types.ts';

interface Statements {
  readonly insertBatch: Database.Statement;
  readonly countBatch: Database.Statement;
  readonly insertDevice: Database.Statement;
  readonly getDevice: Database.Statement;
}

function prepare(db: Database.Database): Statements {
  return {
    insertBatch: db.prepare(`INSERT INTO batches (id, manufacturer, manifest_sha256, signature, line_count, filed, duplicates, conflicts, rejected, uploaded_at)
      VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, ?) ON CONFLICT DO NOTHING`),
    countBatch: db.prepare('UPDATE batches SET line_count = ?, rejected = ?, filed = ?, duplicates = ?, conflicts = ? WHERE id = ?'),
    insertDevice: db.prepare(`INSERT INTO devices (ek_name, node_id, ek_public, ek_certificate, sealing_public, serial, board, batch_id, manufacturer, state, filed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'filed', ?) ON CONFLICT DO NOTHING`),
    getDevice: db.prepare('SELECT ek_name, node_id, serial, board, sealing_public FROM devices WHERE ek_name = ?'),
  };
}

/** The columns sameDevice compares, of the device already filed under an EK. */
function existingDevice(r: Row): Parameters<typeof sameDevice>[0] {
  return { ekName: String(r['ek_name']), nodeId: String(r['node_id']), serial: String(r['serial']), board: String(r['board']), sealingPublic: new Uint8Array(r['sealing_public'] as Buffer) };
}

export class SqliteBatches {
  readonly #connect: () => Database.Database;
  readonly #wrap: (err: unknown) => Error;
  #conn: { readonly db: Database.Database; readonly s: Statements } | null = null;
  /** Settles when the open batch ends; null while none is open. */
  #open: Promise<void> | null = null;

  /** `connect` opens the batch connection (the store's own for an in-memory database). */
  constructor(connect: () => Database.Database, wrap: (err: unknown) => Error) {
    this.#connect = connect;
    this.#wrap = wrap;
  }

  /** Runs `write` (synchronous, on the store's connection) once no batch is open. */
  async whenIdle<T>(write: () => T): Promise<T> {
    // no await between the check and the write: a batch cannot open in between
    while (this.#open !== null) await this.#open;
    return write();
  }

  async open(batch: BatchOpening): Promise<BatchWriter> {
    while (this.#open !== null) await this.#open;
    let ended!: () => void;
    this.#open = new Promise<void>((resolve) => { ended = resolve; });
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (this.#conn?.db.inTransaction === true) this.#conn.db.exec('ROLLBACK');
      this.#open = null;
      ended();
    };
    let db: Database.Database, s: Statements, fresh: boolean;
    try {
      this.#conn ??= (() => { const c = this.#connect(); return { db: c, s: prepare(c) }; })();
      ({ db, s } = this.#conn);
      db.exec('BEGIN IMMEDIATE');
      fresh = s.insertBatch.run(batch.id, batch.manufacturer, batch.manifestSha256, buf(batch.signature), batch.uploadedAt).changes === 1;
    } catch (err) {
      finish();
      throw this.#wrap(err);
    }
    let filed = 0, duplicates = 0, conflicts = 0;
    const guard = <T>(fn: () => T): T => {
      if (finished) throw this.#wrap(new Error('the batch has ended'));
      try {
        return fn();
      } catch (err) {
        finish();
        throw this.#wrap(err);
      }
    };
    return {
      file: async (devices: readonly NewDevice[]): Promise<FileOutcome[]> => guard(() => devices.map((d) => {
        const r = s.insertDevice.run(d.ekName, d.nodeId, buf(d.ekPublic), buf(d.ekCertificate), buf(d.sealingPublic), d.serial, d.board, batch.id, batch.manufacturer, batch.uploadedAt);
        if (r.changes === 1) {
          filed++;
          return 'filed';
        }
        const existing = s.getDevice.get(d.ekName) as Row | undefined;
        if (existing !== undefined && sameDevice(existingDevice(existing), d)) {
          duplicates++;
          return 'duplicate';
        }
        conflicts++;
        return 'conflict';
      })),
      commit: async (counts) => guard(() => {
        if (fresh) s.countBatch.run(counts.lineCount, counts.rejected, filed, duplicates, conflicts, batch.id);
        db.exec('COMMIT');
        finish();
      }),
      abort: async () => finish(),
    };
  }

  close(): void {
    if (this.#conn !== null && this.#conn.db.open) this.#conn.db.close();
  }
}
