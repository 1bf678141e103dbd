// A batch upload is written to a spool file first, hashed on the way, and its manufacturer's
// signature checked before any line is parsed: an unsigned or wrongly signed 512 MiB body then
// costs a disk write and one SHA-256, not a certificate verification per line. The spool file
// is the owner's alone and is removed whatever the outcome.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProvisioningError } from '../errors.ts';
import type { ProvisioningStore } from '../store/types.ts';
import { checkManufacturerName, verifyBatchSignature } from './signature.ts';

const WRITE_RUN = 1024 * 1024;

export interface SpooledBatch {
  /** The batch's bytes again, from the spool file, for the line-by-line ingest. */
  readonly source: () => AsyncIterable<Uint8Array>;
  readonly bytes: number;
  /** SHA-256 of the bytes, which the manufacturer's signature was verified over. */
  readonly sha256: Uint8Array;
  remove(): Promise<void>;
}

/** Spools `body`, then refuses it unless `signature` verifies with the manufacturer's key; nothing is parsed before that. */
export async function spoolSignedBatch(input: {
  readonly body: AsyncIterable<Uint8Array>;
  readonly manufacturer: string;
  readonly signature: Uint8Array;
  readonly store: ProvisioningStore;
  readonly dir?: string;
}): Promise<SpooledBatch> {
  const manufacturer = checkManufacturerName(input.manufacturer);
  // The manufacturer first: an unknown one's body is not even spooled.
  const record = await input.store.getManufacturer(manufacturer);
  if (record === null) throw new ProvisioningError('ERR_PROV_UNKNOWN_MANUFACTURER', `manufacturer "${manufacturer}" is not registered`, 'manufacturer');
  const dir = await mkdtemp(join(input.dir ?? tmpdir(), 'btn-batch-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const path = join(dir, 'batch.jsonl');
    const hash = createHash('sha256');
    let bytes = 0;
    const file = await open(path, 'wx', 0o600);
    try {
      // a socket hands over ~64 KiB at a time: copied into 1 MiB runs (the source may reuse its
      // buffer), 16x fewer writes
      const run = Buffer.allocUnsafe(WRITE_RUN);
      let used = 0;
      for await (const chunk of input.body) {
        hash.update(chunk);
        bytes += chunk.length;
        for (let at = 0; at < chunk.length;) {
          const n = Math.min(chunk.length - at, WRITE_RUN - used);
          run.set(chunk.subarray(at, at + n), used);
          used += n;
          at += n;
          if (used === WRITE_RUN) {
            await writeAll(file, run);
            used = 0;
          }
        }
      }
      if (used > 0) await writeAll(file, run.subarray(0, used));
    } finally {
      await file.close();
    }
    const sha256 = new Uint8Array(hash.digest());
    if (!verifyBatchSignature(record.publicKey, manufacturer, sha256, input.signature)) {
      throw new ProvisioningError('ERR_PROV_BAD_SIGNATURE', `batch signature does not verify with the key of manufacturer "${manufacturer}"; nothing was filed`, 'signature');
    }
    return { source: () => createReadStream(path, { highWaterMark: 1024 * 1024 }), bytes, sha256, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A write may take fewer bytes than given: go on until all are written. */
async function writeAll(file: FileHandle, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += (await file.write(data, at)).bytesWritten;
}
