// Batch ingest: stream the manifest, check every line while it arrives (in chunks, on worker
// threads when given a checker), then check the manufacturer's signature over the whole batch
// (the server has checked it on the spooled copy before this runs); only a batch whose
// signature verifies reaches the store, in one transaction. A bad signature rejects everything; a bad line rejects only
// that line (README "All-or-nothing?").
import { createHash } from 'node:crypto';
import { ProvisioningError } from '../errors.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import type { BatchLineResult, BatchLineStatus, BatchUploadResponse } from '../../firmware/protocol/registrar-api/types.ts';
import type { FileOutcome, NewDevice, ProvisioningStore } from '../store/types.ts';
import type { SignatureVerifier } from './cert-verify-pool.ts';
import { isRejection, type LineRejectCode } from './line.ts';
import { IntermediatePaths } from './chain.ts';
import { checkChunk, checkChunkVerifying, type CheckedLine, type LineChecker, type LineChunk } from './line-chunk.ts';
import { LineSplitter, type RawLineBytes } from './lines.ts';
import { batchId, checkManufacturerName, verifyBatchSignature } from './signature.ts';
import type { TrustStore } from './trust.ts';

export type LineStatus = BatchLineStatus;

/** A line's outcome as the API reports it, with the registrar's own reject codes. */
export interface LineResult extends BatchLineResult {
  readonly code?: LineRejectCode;
}

/** The upload's report: the API's answer (firmware/protocol/registrar-api), built here. */
export interface BatchReport extends BatchUploadResponse {
  readonly results: LineResult[];
}

export interface IngestInput {
  readonly source: AsyncIterable<Uint8Array>;
  readonly manufacturer: string;
  readonly signature: Uint8Array;
  readonly store: ProvisioningStore;
  readonly trust: TrustStore;
  readonly now: number;
  readonly maxLines?: number;
  readonly maxLineBytes?: number;
  /**
   * Checks the lines (worker threads, built from `trust`); when absent, lines are checked on this
   * thread, their certificate signatures by `verifier` when given.
   */
  readonly checker?: LineChecker;
  /** Verifies certificate signatures only (worker threads); used without `checker`. */
  readonly verifier?: SignatureVerifier;
}

// Lines go in chunks of this many (fewer when their bytes fill CHUNK_BYTES): a message's round
// trip spread over many lines, and a chunk of typical 2.6 KB lines under 1 MiB.
const CHUNK_LINES = 256;
const CHUNK_BYTES = 1024 * 1024;

export async function ingestBatch(input: IngestInput): Promise<BatchReport> {
  const manufacturer = checkManufacturerName(input.manufacturer);
  const record = await input.store.getManufacturer(manufacturer);
  if (record === null) throw new ProvisioningError('ERR_PROV_UNKNOWN_MANUFACTURER', `manufacturer "${manufacturer}" is not registered`, 'manufacturer');

  const hash = createHash('sha256');
  const results: LineResult[] = [];
  const devices: NewDevice[] = [];
  const deviceLine: number[] = []; // index into results for each device
  const seenEk = new Set<string>();
  const seenNode = new Set<string>();
  const trust = input.trust;
  const now = input.now;
  const paths = new IntermediatePaths(trust, now);
  const checker = input.checker;
  const verifier = input.verifier;
  const check = (chunk: LineChunk): Promise<CheckedLine[]> => checker !== undefined ? checker.check(chunk, now)
    : verifier !== undefined ? checkChunkVerifying(chunk, trust, now, paths, verifier)
      : Promise.resolve(checkChunk(chunk, trust, now, paths));
  // Chunks in flight: enough to keep every worker busy while the main thread splits the next
  // lines and files the settled ones; bounded, so memory stays a few MiB whatever the batch size.
  const maxInFlight = 2 * (checker?.size ?? 2);

  // Chunks are checked concurrently and settled in order, so results and duplicate detection
  // follow line order. A too-long line is settled here: its bytes were never kept.
  type Chunk = { readonly lines: readonly (number | LineResult)[]; readonly checked: Promise<CheckedLine[]> };
  const inflight: Chunk[] = [];
  let lines: (number | LineResult)[] = [];
  let buf = new Uint8Array(CHUNK_BYTES);
  let used = 0;
  let ends: number[] = [];
  const flush = (): void => {
    if (lines.length === 0) return;
    const chunk: LineChunk = { bytes: buf.subarray(0, used), ends: Int32Array.from(ends) };
    const checked = ends.length === 0 ? Promise.resolve([]) : check(chunk);
    checked.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
    inflight.push({ lines, checked });
    lines = [];
    buf = new Uint8Array(CHUNK_BYTES);
    used = 0;
    ends = [];
  };
  const add = (raw: RawLineBytes): void => {
    if ('tooLong' in raw) {
      lines.push({ line: raw.line, status: 'rejected', code: 'ERR_LINE_TOO_LONG', reason: `line of ${raw.bytes} bytes is over the cap` });
    } else {
      if (used + raw.bytes > buf.length) {
        flush();
        if (raw.bytes > buf.length) buf = new Uint8Array(raw.bytes);
      }
      for (const part of raw.parts) {
        buf.set(part, used);
        used += part.length;
      }
      ends.push(used);
      lines.push(raw.line);
    }
    if (lines.length >= CHUNK_LINES) flush();
  };
  const settle = async (keep: number): Promise<void> => {
    while (inflight.length > keep) {
      const { lines: items, checked } = inflight.shift()!;
      const outcomes = await checked;
      let next = 0;
      for (const item of items) {
        if (typeof item !== 'number') {
          results.push(item);
          continue;
        }
        const line = item;
        const c = outcomes[next++]!;
        if (isRejection(c)) {
          results.push(c.serial === undefined ? { line, status: 'rejected', code: c.code, reason: c.reason } : { line, serial: c.serial, status: 'rejected', code: c.code, reason: c.reason });
        } else if (seenEk.has(c.ekName) || seenNode.has(c.nodeId)) {
          results.push({ line, serial: c.serial, status: 'rejected', code: 'ERR_DUPLICATE_IN_BATCH', reason: 'the same EK or sealing key appears on an earlier line of this batch' });
        } else {
          seenEk.add(c.ekName);
          seenNode.add(c.nodeId);
          deviceLine.push(results.length);
          results.push({ line, serial: c.serial, status: 'filed' });
          devices.push(c);
        }
      }
    }
  };

  const splitter = new LineSplitter(add, {
    ...(input.maxLines === undefined ? {} : { maxLines: input.maxLines }),
    ...(input.maxLineBytes === undefined ? {} : { maxLineBytes: input.maxLineBytes }),
  });
  try {
    for await (const c of input.source) {
      hash.update(c);
      splitter.push(c);
      await settle(maxInFlight);
    }
    splitter.end();
    flush();
    await settle(0);
  } finally {
    // a failed batch leaves no chunk behind unobserved
    inflight.length = 0;
  }

  const digest = new Uint8Array(hash.digest());
  if (!verifyBatchSignature(record.publicKey, manufacturer, digest, input.signature)) {
    throw new ProvisioningError('ERR_PROV_BAD_SIGNATURE', `batch signature does not verify with the key of manufacturer "${manufacturer}"; nothing was filed`, 'signature');
  }
  const id = batchId(manufacturer, digest);
  const rejectedBefore = results.length - devices.length;
  const outcomes: FileOutcome[] = devices.length === 0 && results.length === 0 ? [] : await input.store.fileBatch(
    { id, manufacturer, manifestSha256: toHex(digest), signature: input.signature, lineCount: results.length, rejected: rejectedBefore, uploadedAt: input.now },
    devices,
  );
  let filed = 0, duplicates = 0;
  outcomes.forEach((o, i) => {
    const at = deviceLine[i]!;
    const r = results[at]!;
    if (o === 'filed') filed++;
    else if (o === 'duplicate') {
      duplicates++;
      results[at] = { ...r, status: 'duplicate' };
    } else {
      results[at] = { ...r, status: 'rejected', code: 'ERR_FILED_WITH_OTHER_DATA', reason: 'this EK or sealing key is filed already with another serial, board or sealing key' };
    }
  });
  return {
    batchId: id, manufacturer, sha256: toHex(digest), lines: results.length, filed, duplicates,
    rejected: results.length - filed - duplicates, results,
  };
}
