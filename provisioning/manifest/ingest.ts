// Batch ingest: stream the manifest and check every line (in chunks, on worker threads when given
// a checker). Given the digest its signature was verified over (the server spools and verifies
// first), settled devices are filed into the batch's open transaction while later lines are
// still checked; otherwise the signature is checked at the end and only then is anything filed.
// Either way the batch commits once, at the end: a bad signature, a failed check or store error
// leaves nothing filed; a bad line rejects only that line (README "All-or-nothing?").
import { createHash } from 'node:crypto';
import { ProvisioningError } from '../errors.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import type { BatchLineResult, BatchLineStatus, BatchUploadResponse } from '../../firmware/protocol/registrar-api/types.ts';
import type { ProvisioningStore } from '../store/types.ts';
import { BatchFiling } from './batch-filing.ts';
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
  /**
   * SHA-256 of the source's bytes, over which the caller has verified `signature` already
   * (spoolSignedBatch): the source is not hashed again, and filing overlaps the checks.
   */
  readonly verifiedSha256?: Uint8Array;
}

// Lines go in chunks of this many (fewer when their bytes fill CHUNK_BYTES): a message's round
// trip spread over many lines, and a chunk of typical 2.6 KB lines under 1 MiB.
const CHUNK_LINES = 256;
const CHUNK_BYTES = 1024 * 1024;

export async function ingestBatch(input: IngestInput): Promise<BatchReport> {
  const manufacturer = checkManufacturerName(input.manufacturer);
  const record = await input.store.getManufacturer(manufacturer);
  if (record === null) throw new ProvisioningError('ERR_PROV_UNKNOWN_MANUFACTURER', `manufacturer "${manufacturer}" is not registered`, 'manufacturer');

  const badSignature = (): ProvisioningError => new ProvisioningError('ERR_PROV_BAD_SIGNATURE', `batch signature does not verify with the key of manufacturer "${manufacturer}"; nothing was filed`, 'signature');
  const verified = input.verifiedSha256;
  // one Ed25519 verification: the digest handed over must be the one the signature covers
  if (verified !== undefined && !verifyBatchSignature(record.publicKey, manufacturer, verified, input.signature)) throw badSignature();
  const hash = verified === undefined ? createHash('sha256') : null;
  const results: LineResult[] = [];
  let passed = 0; // lines that passed the checks and went to the store
  let filed = 0, duplicates = 0;
  let digest = verified;
  const filing = new BatchFiling(
    () => input.store.openBatch({ id: batchId(manufacturer, digest!), manufacturer, manifestSha256: toHex(digest!), signature: input.signature, uploadedAt: input.now }),
    (outcomes, at) => outcomes.forEach((o, i) => {
      const r = results[at[i]!]!;
      if (o === 'filed') filed++;
      else if (o === 'duplicate') {
        duplicates++;
        results[at[i]!] = { ...r, status: 'duplicate' };
      } else {
        results[at[i]!] = { ...r, status: 'rejected', code: 'ERR_FILED_WITH_OTHER_DATA', reason: 'this EK or sealing key is filed already with another serial, board or sealing key' };
      }
    }),
    verified !== undefined && input.store.fileWhileChecking,
  );
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
          passed++;
          filing.add(c, results.length);
          results.push({ line, serial: c.serial, status: 'filed' });
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
      hash?.update(c);
      splitter.push(c);
      await settle(maxInFlight);
      await filing.keepUp();
    }
    splitter.end();
    flush();
    await settle(0);
    if (hash !== null) {
      digest = new Uint8Array(hash.digest());
      if (!verifyBatchSignature(record.publicKey, manufacturer, digest, input.signature)) throw badSignature();
      filing.start();
    }
    // an empty batch files nothing, not even its record
    if (results.length > 0) await filing.commit({ lineCount: results.length, rejected: results.length - passed });
  } catch (err) {
    await filing.abort();
    throw err;
  } finally {
    // a failed batch leaves no chunk behind unobserved
    inflight.length = 0;
  }

  return {
    batchId: batchId(manufacturer, digest!), manufacturer, sha256: toHex(digest!), lines: results.length, filed, duplicates,
    rejected: results.length - filed - duplicates, results,
  };
}
