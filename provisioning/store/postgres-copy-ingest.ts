// Filing a batch's devices on PostgreSQL, in one transaction left open while ingest still checks
// later lines: each call's rows go by binary COPY into a temporary table, then one INSERT ...
// SELECT files them in order with ON CONFLICT DO NOTHING, and the same statement returns the
// rows it did not file beside the device already there (as it was before the statement), so each
// is told duplicate or conflict by the shared rule (rows.ts sameDevice).
// COPY over unnest() arrays: node-postgres sends arrays as text, hex-encoding every bytea in
// JavaScript, which cost more than the insert itself (measured in provisioning/README.md).
import type pg from 'pg';
import { buf, sameDevice } from './rows.ts';
import { copyRows } from './pg-copy.ts';
import type { BatchOpening, BatchWriter, FileOutcome, NewDevice } from './types.ts';

// Rows per COPY statement: bounds the bytes buffered for the socket at once (~1.5 KB a row).
const COPY_CHUNK = 10_000;
/** A row not filed, beside the device that holds its EK (all null when none does). */
interface LeftRow { ord: number; ek_name: string | null; node_id: string; serial: string; board: string; sealing_public: Buffer }

const COLUMNS = ['ord', 'ek_name', 'node_id', 'ek_public', 'ek_certificate', 'sealing_public', 'serial', 'board'] as const;

/**
 * Begins the batch's transaction on `c` (the caller's client, given up to the writer). `release`
 * hands the client back once the batch ends, with the error that ended it when the connection
 * cannot be trusted any more.
 */
export async function openPostgresBatch(c: pg.PoolClient, batch: BatchOpening, release: (err?: Error) => void, wrap: (err: unknown) => Error): Promise<BatchWriter> {
  let finished = false;
  const finish = async (err?: Error): Promise<void> => {
    if (finished) return;
    finished = true;
    let failed = err;
    await c.query('ROLLBACK').catch((e: unknown) => { failed ??= e as Error; });
    release(failed);
  };
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (finished) throw wrap(new Error('the batch has ended'));
    try {
      return await fn();
    } catch (err) {
      await finish(err as Error);
      throw wrap(err);
    }
  };
  const fresh = await guard(async () => {
    await c.query('BEGIN');
    const r = await c.query(
      `INSERT INTO batches (id, manufacturer, manifest_sha256, signature, line_count, filed, duplicates, conflicts, rejected, uploaded_at)
       VALUES ($1, $2, $3, $4, 0, 0, 0, 0, 0, $5) ON CONFLICT DO NOTHING`,
      [batch.id, batch.manufacturer, batch.manifestSha256, buf(batch.signature), batch.uploadedAt],
    );
    await c.query(`CREATE TEMP TABLE devices_in (ord int4 NOT NULL, ek_name text NOT NULL, node_id text NOT NULL, ek_public bytea NOT NULL,
      ek_certificate bytea NOT NULL, sealing_public bytea NOT NULL, serial text NOT NULL, board text NOT NULL) ON COMMIT DROP`);
    return r.rowCount === 1;
  });
  let filed = 0, duplicates = 0, conflicts = 0, calls = 0;
  return {
    file: (devices) => guard(async () => {
      const outcomes = await fileDevices(c, batch, devices, calls++ > 0);
      for (const o of outcomes) {
        if (o === 'filed') filed++;
        else if (o === 'duplicate') duplicates++;
        else conflicts++;
      }
      return outcomes;
    }),
    commit: (counts) => guard(async () => {
      if (fresh) {
        await c.query('UPDATE batches SET line_count = $1, rejected = $2, filed = $3, duplicates = $4, conflicts = $5 WHERE id = $6',
          [counts.lineCount, counts.rejected, filed, duplicates, conflicts, batch.id]);
      }
      await c.query('COMMIT');
      finished = true;
      release();
    }),
    abort: () => finish(),
  };
}

/** Inside the batch's transaction: files `devices` after those filed before; one outcome per device, in order. */
async function fileDevices(c: pg.PoolClient, batch: BatchOpening, devices: readonly NewDevice[], used: boolean): Promise<FileOutcome[]> {
  const outcomes: FileOutcome[] = devices.map(() => 'filed');
  if (devices.length === 0) return outcomes;
  // this call's rows only: scanning earlier calls' rows again would grow with the batch
  if (used) await c.query('TRUNCATE devices_in');
  for (let start = 0; start < devices.length; start += COPY_CHUNK) {
    const end = Math.min(devices.length, start + COPY_CHUNK);
    await copyRows(c, 'devices_in', COLUMNS, rowsOf(devices, start, end));
  }
  const left = await c.query(`WITH filed AS (
      INSERT INTO devices (ek_name, node_id, ek_public, ek_certificate, sealing_public, serial, board, batch_id, manufacturer, state, filed_at)
      SELECT ek_name, node_id, ek_public, ek_certificate, sealing_public, serial, board, $1, $2, 'filed', $3 FROM devices_in ORDER BY ord
      ON CONFLICT DO NOTHING RETURNING ek_name
    )
    SELECT i.ord, d.ek_name, d.node_id, d.serial, d.board, d.sealing_public
    FROM devices_in i LEFT JOIN devices d ON d.ek_name = i.ek_name
    WHERE NOT EXISTS (SELECT 1 FROM filed WHERE filed.ek_name = i.ek_name)`, [batch.id, batch.manufacturer, batch.uploadedAt]);
  for (const r of left.rows as LeftRow[]) {
    const i = Number(r.ord);
    const existing = r.ek_name === null ? null : { ekName: r.ek_name, nodeId: r.node_id, serial: r.serial, board: r.board, sealingPublic: new Uint8Array(r.sealing_public) };
    outcomes[i] = existing !== null && sameDevice(existing, devices[i]!) ? 'duplicate' : 'conflict';
  }
  return outcomes;
}

function* rowsOf(devices: readonly NewDevice[], start: number, end: number): Generator<(string | number | Uint8Array)[]> {
  for (let i = start; i < end; i++) {
    const d = devices[i]!;
    yield [i, d.ekName, d.nodeId, d.ekPublic, d.ekCertificate, d.sealingPublic, d.serial, d.board];
  }
}
