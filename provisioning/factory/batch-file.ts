// Appending one device line to a batch manifest (provisioning/README.md) durably and without
// duplicates: under the batch lock, look this EK and serial up in the batch index, drop a torn tail
// left by a station that died mid-write, append the line with one write(2), fsync the file
// (and the directory when the file is new).
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isRejection, MAX_BATCH_LINES, MAX_LINE_BYTES, parseManifestLine } from '../manifest/index.ts';
import { ekKey, fingerprint, recordAppend, refreshIndex } from './batch-index.ts';
import { acquireBatchLock, type LockOptions } from './batch-lock.ts';
import { FactoryError } from './errors.ts';
import { syncDir } from '../../firmware/core/atomic-write.ts';

/** One manifest line as the factory writes it (field order fixed, hex lower case). */
export interface BatchEntry {
  readonly serial: string;
  readonly board: string;
  readonly ekPublic: string;
  readonly ekCertificate: string;
  /** Intermediates from the TPM's EK chain NV indices, base64 DER; absent when it keeps none. */
  readonly ekChain?: readonly string[];
  readonly sealingPublic: string;
}

export interface AppendResult {
  readonly status: 'added' | 'already-enrolled';
  /** 1-based line number of the entry in the batch. */
  readonly line: number;
  /** Bytes of a torn last line (no newline) that were dropped before appending, 0 normally. */
  readonly droppedTornBytes: number;
}

export interface AppendOptions {
  readonly lock?: LockOptions;
}

/** The exact text of a line (no newline). */
export function entryText(e: BatchEntry): string {
  return JSON.stringify({
    serial: e.serial, board: e.board, ekPublic: e.ekPublic, ekCertificate: e.ekCertificate,
    ...(e.ekChain === undefined || e.ekChain.length === 0 ? {} : { ekChain: e.ekChain }), sealingPublic: e.sealingPublic,
  });
}

export async function appendBatchEntry(batchPath: string, entry: BatchEntry, options: AppendOptions = {}): Promise<AppendResult> {
  const text = entryText(entry);
  const check = parseManifestLine(text);
  if (isRejection(check)) throw new FactoryError('ERR_FACTORY_ARGUMENT', `the line would be rejected by the root node: ${check.reason}`);
  const lock = await acquireBatchLock(batchPath, options.lock);
  try {
    const existed = await stat(batchPath).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw io(batchPath, err);
    });
    let fh: FileHandle;
    try {
      fh = await open(batchPath, 'a+', 0o644);
    } catch (err) {
      throw io(batchPath, err);
    }
    try {
      const dropped = await dropTornTail(fh, batchPath);
      const idx = await refreshIndex(batchPath, fh);
      const known = idx.eks.get(ekKey(entry.ekPublic));
      if (known !== undefined) {
        if (known.serial !== entry.serial || known.board !== entry.board) {
          throw new FactoryError('ERR_FACTORY_EK_CONFLICT', `this TPM is already enrolled in ${batchPath} line ${known.line} as serial "${known.serial}" board "${known.board}", not "${entry.serial}" "${entry.board}"`);
        }
        if (known.fingerprint !== fingerprint(entry.sealingPublic, entry.ekCertificate)) {
          throw new FactoryError('ERR_FACTORY_EK_CONFLICT', `this TPM is enrolled in ${batchPath} line ${known.line} with another sealing key or EK certificate; the TPM was changed since (re-manufacture it or remove that line before signing)`);
        }
        return { status: 'already-enrolled', line: known.line, droppedTornBytes: dropped };
      }
      const taken = idx.serials.get(entry.serial);
      if (taken !== undefined) {
        throw new FactoryError('ERR_FACTORY_SERIAL_TAKEN', `serial "${entry.serial}" is already used in ${batchPath} line ${taken} by another TPM`);
      }
      if (idx.lines >= MAX_BATCH_LINES) {
        throw new FactoryError('ERR_FACTORY_BATCH_FULL', `${batchPath} holds ${idx.lines} lines, the most one batch may have; start a new batch file`);
      }
      const bytes = Buffer.from(`${text}\n`, 'utf8');
      try {
        // O_APPEND with a single write: the line lands whole at the end or (on a crash) torn,
        // which the next station drops above.
        await fh.write(bytes);
        await fh.sync();
      } catch (err) {
        throw io(batchPath, err);
      }
      recordAppend(idx, entry, bytes.length);
      if (!existed) await syncDir(dirname(batchPath));
      return { status: 'added', line: idx.lines, droppedTornBytes: dropped };
    } finally {
      await fh.close().catch(() => undefined);
    }
  } finally {
    await lock.release();
  }
}

const io = (path: string, err: unknown): FactoryError =>
  err instanceof FactoryError ? err : new FactoryError('ERR_FACTORY_BATCH_IO', `batch ${path}: ${(err as Error).message}`, { cause: err });

/** Truncates an unterminated last line (a station died mid-append); returns the bytes removed. */
async function dropTornTail(fh: FileHandle, path: string): Promise<number> {
  const { size } = await fh.stat();
  if (size === 0) return 0;
  const last = Buffer.alloc(1);
  await fh.read(last, 0, 1, size - 1);
  if (last[0] === 0x0a) return 0;
  // Search backwards for the last newline; a line is at most MAX_LINE_BYTES, search a bit more.
  const window = Math.min(size, MAX_LINE_BYTES * 4);
  const buf = Buffer.alloc(window);
  await fh.read(buf, 0, window, size - window);
  const nl = buf.lastIndexOf(0x0a);
  if (nl === -1 && window < size) {
    throw new FactoryError('ERR_FACTORY_BATCH_CORRUPT', `${path} ends with more than ${window} bytes without a newline; it is not a batch manifest`);
  }
  const keep = nl === -1 ? 0 : size - window + nl + 1;
  await fh.truncate(keep);
  await fh.sync();
  return size - keep;
}
