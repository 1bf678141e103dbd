// What a station knows about a batch file: line count, each EK and serial already in it. Kept
// per process and extended incrementally from the last offset seen, so enrolling the n-th TPM
// reads only the lines other stations appended since, not the whole batch again (a 100,000-line
// batch is ~260 MB). Batches are append-only; a file that was replaced (other inode) or shrank
// is read again from the start.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isRejection, MAX_BATCH_LINES, parseManifestLine, splitLines } from '../manifest/index.ts';
import { FactoryError } from './errors.ts';
import { toHex } from '../../firmware/core/bytes.ts';

export interface KnownDevice {
  readonly line: number;
  readonly serial: string;
  readonly board: string;
  /** SHA-256 of sealingPublic hex and EK certificate base64: detects a changed TPM. */
  readonly fingerprint: string;
}

export class BatchIndex {
  offset = 0;
  lines = 0;
  /** By ekKey(ekPublic hex). */
  readonly eks = new Map<string, KnownDevice>();
  /** serial -> line */
  readonly serials = new Map<string, number>();
  constructor(readonly dev: number, readonly ino: number) {}
}

const cache = new Map<string, BatchIndex>();

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
/** Map key of an EK: a digest, so 100,000 EKs cost megabytes, not the hex itself. */
export const ekKey = (ekPublicHex: string): string => sha(ekPublicHex.toLowerCase()).slice(0, 32);
export const fingerprint = (sealingPublicHex: string, ekCertificateB64: string): string => sha(`${sealingPublicHex.toLowerCase()}\n${ekCertificateB64}`);

/**
 * The index of the batch open as `fh` (call under the batch lock, after a torn tail was dropped,
 * so the file ends with a newline). Unparseable lines make the batch corrupt: the station
 * stops rather than grow a batch the root node would partly reject.
 */
export async function refreshIndex(path: string, fh: FileHandle): Promise<BatchIndex> {
  const key = resolve(path);
  const st = await fh.stat();
  let idx = cache.get(key);
  if (idx === undefined || idx.dev !== st.dev || idx.ino !== st.ino || st.size < idx.offset) idx = new BatchIndex(st.dev, st.ino);
  cache.delete(key); // re-added only when the scan completes
  if (st.size > idx.offset) {
    const base = idx.lines;
    try {
      const stream = createReadStream(path, { start: idx.offset, end: st.size - 1, highWaterMark: 1 << 20 });
      for await (const raw of splitLines(stream, { maxLines: MAX_BATCH_LINES + 1 })) {
        const line = base + raw.line;
        if (line > MAX_BATCH_LINES) break; // full; appendBatchEntry refuses
        if ('tooLong' in raw) throw new FactoryError('ERR_FACTORY_BATCH_CORRUPT', `${path} line ${line} is ${raw.bytes} bytes, longer than a manifest line may be; fix or remove it`);
        const parsed = parseManifestLine(raw.text);
        if (isRejection(parsed)) throw new FactoryError('ERR_FACTORY_BATCH_CORRUPT', `${path} line ${line} is not a valid manifest line (${parsed.reason}); fix or remove it`);
        const ekHex = toHex(parsed.ekPublic);
        const k = ekKey(ekHex);
        if (!idx.eks.has(k)) {
          idx.eks.set(k, {
            line, serial: parsed.serial, board: parsed.board,
            fingerprint: fingerprint(toHex(parsed.sealingPublic), Buffer.from(parsed.ekCertificate).toString('base64')),
          });
        }
        if (!idx.serials.has(parsed.serial)) idx.serials.set(parsed.serial, line);
        idx.lines = line;
      }
    } catch (err) {
      if (err instanceof FactoryError) throw err;
      throw new FactoryError('ERR_FACTORY_BATCH_IO', `batch ${path}: ${(err as Error).message}`, { cause: err });
    }
    idx.offset = st.size;
  }
  cache.set(key, idx);
  return idx;
}

/** After this station appended `bytes` bytes holding one line for `entry`. */
export function recordAppend(idx: BatchIndex, entry: { serial: string; board: string; ekPublic: string; sealingPublic: string; ekCertificate: string }, bytes: number): void {
  idx.lines++;
  idx.offset += bytes;
  idx.eks.set(ekKey(entry.ekPublic), { line: idx.lines, serial: entry.serial, board: entry.board, fingerprint: fingerprint(entry.sealingPublic, entry.ekCertificate) });
  idx.serials.set(entry.serial, idx.lines);
}
