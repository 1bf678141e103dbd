// Appending one device line to a batch manifest (provisioning/README.md) durably and without
// duplicates: under the batch lock, scan the file for this EK and this serial, drop a torn tail
// left by a station that died mid-write, append the line with one write(2), fsync the file
// (and the directory when the file is new).
import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isRejection, MAX_BATCH_LINES, MAX_LINE_BYTES, parseManifestLine, splitLines } from '../manifest/index.ts';
import { acquireBatchLock, type LockOptions } from './batch-lock.ts';
import { FactoryError } from './errors.ts';

/** One manifest line as the factory writes it (field order fixed, hex lower case). */
export interface BatchEntry {
  readonly serial: string;
  readonly board: string;
  readonly ekPublic: string;
  readonly ekCertificate: string;
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
  return JSON.stringify({ serial: e.serial, board: e.board, ekPublic: e.ekPublic, ekCertificate: e.ekCertificate, sealingPublic: e.sealingPublic });
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
      const found = await scan(batchPath, entry);
      if (found.ek !== null) {
        const { line, entry: old } = found.ek;
        if (old.serial !== entry.serial || old.board !== entry.board) {
          throw new FactoryError('ERR_FACTORY_EK_CONFLICT', `this TPM is already enrolled in ${batchPath} line ${line} as serial "${old.serial}" board "${old.board}", not "${entry.serial}" "${entry.board}"`);
        }
        if (old.sealingPublic !== entry.sealingPublic || old.ekCertificate !== entry.ekCertificate) {
          throw new FactoryError('ERR_FACTORY_EK_CONFLICT', `this TPM is enrolled in ${batchPath} line ${line} with another sealing key or EK certificate; the TPM was changed since (re-manufacture it or remove that line before signing)`);
        }
        return { status: 'already-enrolled', line, droppedTornBytes: dropped };
      }
      if (found.serial !== null) {
        throw new FactoryError('ERR_FACTORY_SERIAL_TAKEN', `serial "${entry.serial}" is already used in ${batchPath} line ${found.serial} by another TPM`);
      }
      if (found.lines >= MAX_BATCH_LINES) {
        throw new FactoryError('ERR_FACTORY_BATCH_FULL', `${batchPath} holds ${found.lines} lines, the most one batch may have; start a new batch file`);
      }
      try {
        // O_APPEND with a single write: the line lands whole at the end or (on a crash) torn,
        // which the next station drops above.
        await fh.write(`${text}\n`);
        await fh.sync();
      } catch (err) {
        throw io(batchPath, err);
      }
      if (!existed) await syncDir(dirname(batchPath));
      return { status: 'added', line: found.lines + 1, droppedTornBytes: dropped };
    } finally {
      await fh.close().catch(() => undefined);
    }
  } finally {
    await lock.release();
  }
}

const io = (path: string, err: unknown): FactoryError =>
  err instanceof FactoryError ? err : new FactoryError('ERR_FACTORY_BATCH_IO', `batch ${path}: ${(err as Error).message}`, { cause: err });

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

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

interface ScanResult {
  lines: number;
  ek: { line: number; entry: BatchEntry } | null;
  serial: number | null;
}

/** Counts lines and finds this EK and this serial; only lines that mention either are parsed. */
async function scan(path: string, entry: BatchEntry): Promise<ScanResult> {
  const serialNeedle = `"serial":${JSON.stringify(entry.serial)}`;
  const result: ScanResult = { lines: 0, ek: null, serial: null };
  try {
    for await (const raw of splitLines(createReadStream(path, { highWaterMark: 1 << 20 }), { maxLines: MAX_BATCH_LINES + 1 })) {
      result.lines = raw.line;
      if ('tooLong' in raw) continue;
      const hasEk = raw.text.includes(entry.ekPublic);
      if (!hasEk && !raw.text.includes(serialNeedle)) continue;
      const parsed = parseManifestLine(raw.text);
      if (isRejection(parsed)) {
        throw new FactoryError('ERR_FACTORY_BATCH_CORRUPT', `${path} line ${raw.line} mentions this TPM or serial but is not a valid line (${parsed.reason})`);
      }
      const parsedEk = Buffer.from(parsed.ekPublic).toString('hex');
      if (parsedEk === entry.ekPublic && result.ek === null) {
        result.ek = {
          line: raw.line,
          entry: {
            serial: parsed.serial,
            board: parsed.board,
            ekPublic: parsedEk,
            ekCertificate: Buffer.from(parsed.ekCertificate).toString('base64'),
            sealingPublic: Buffer.from(parsed.sealingPublic).toString('hex'),
          },
        };
      } else if (parsed.serial === entry.serial && parsedEk !== entry.ekPublic && result.serial === null) {
        result.serial = raw.line;
      }
    }
  } catch (err) {
    if (err instanceof FactoryError) throw err;
    if ((err as { code?: string }).code === 'ERR_PROV_BATCH_TOO_LARGE') {
      throw new FactoryError('ERR_FACTORY_BATCH_FULL', `${path} holds more than ${MAX_BATCH_LINES} lines; start a new batch file`);
    }
    throw io(path, err);
  }
  return result;
}
