// Batch ingest: stream the manifest, check every line while it arrives, then check the
// manufacturer's signature over the whole batch; only a batch whose signature verifies reaches
// the store, in one transaction. A bad signature rejects everything; a bad line rejects only
// that line (README "All-or-nothing?").
import { createHash } from 'node:crypto';
import { ProvisioningError } from '../errors.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import type { BatchLineResult, BatchLineStatus, BatchUploadResponse } from '../../firmware/protocol/registrar-api/types.ts';
import type { FileOutcome, NewDevice, ProvisioningStore } from '../store/types.ts';
import type { SignatureJob as PoolJob, SignatureVerifier } from './cert-verify-pool.ts';
import { finishManifestLine, isRejection, parseManifestLine, precheckManifestLine, type LineRejectCode, type PendingLine } from './line.ts';
import type { ParsedCertificate } from './x509.ts';
import { IntermediatePaths } from './chain.ts';
import { splitLines } from './lines.ts';
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
  /** Verifies certificate signatures (worker threads); inline on this thread when absent. */
  readonly verifier?: SignatureVerifier;
}

type SignatureJob = PoolJob & { readonly parsed: ParsedCertificate };

const CHUNK_LINES = 512;
const MAX_CHUNKS_IN_FLIGHT = 4;

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

  // Lines go through in chunks: the main thread prechecks a chunk while the verifier (worker
  // threads, when given) checks the certificate signatures of earlier chunks. Chunks finish in
  // order, so results and duplicate detection follow line order.
  type Item = { readonly line: number; readonly serial?: string; readonly done?: LineResult; readonly pending?: PendingLine; readonly job?: number };
  const inflight: { items: Item[]; verified: Promise<Int32Array> }[] = [];
  let chunk: Item[] = [];
  let jobs: SignatureJob[] = [];
  const flush = (): void => {
    if (chunk.length === 0) return;
    const batchJobs = jobs;
    const verified = input.verifier !== undefined && batchJobs.length > 0
      // only what the worker needs, copied out of the certificate buffers (a view would clone its whole ArrayBuffer)
      ? input.verifier.verify(batchJobs.map((j) => ({ candidates: j.candidates, hash: j.hash, tbs: j.tbs.slice(), signature: j.signature.slice() })))
      : Promise.resolve(Int32Array.from(batchJobs, (j) => trust.verifyInline(j.parsed, j.candidates)));
    verified.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
    inflight.push({ items: chunk, verified });
    chunk = [];
    jobs = [];
  };
  const settle = async (keep: number): Promise<void> => {
    while (inflight.length > keep) {
      const { items, verified } = inflight.shift()!;
      const v = await verified;
      for (const it of items) {
        if (it.done !== undefined) {
          results.push(it.done);
          continue;
        }
        const checked = finishManifestLine(it.pending!, it.job === undefined ? -1 : v[it.job]!, trust, now);
        const serial = it.serial!;
        if (isRejection(checked)) {
          results.push({ line: it.line, serial, status: 'rejected', code: checked.code, reason: checked.reason });
        } else if (seenEk.has(checked.ekName) || seenNode.has(checked.nodeId)) {
          results.push({ line: it.line, serial, status: 'rejected', code: 'ERR_DUPLICATE_IN_BATCH', reason: 'the same EK or sealing key appears on an earlier line of this batch' });
        } else {
          seenEk.add(checked.ekName);
          seenNode.add(checked.nodeId);
          deviceLine.push(results.length);
          results.push({ line: it.line, serial, status: 'filed' });
          devices.push(checked);
        }
      }
    }
  };

  for await (const raw of splitLines(input.source, {
    onChunk: (c) => hash.update(c),
    ...(input.maxLines === undefined ? {} : { maxLines: input.maxLines }),
    ...(input.maxLineBytes === undefined ? {} : { maxLineBytes: input.maxLineBytes }),
  })) {
    if ('tooLong' in raw) {
      chunk.push({ line: raw.line, done: { line: raw.line, status: 'rejected', code: 'ERR_LINE_TOO_LONG', reason: `line of ${raw.bytes} bytes is over the cap` } });
    } else if (raw.text.length === 0) {
      chunk.push({ line: raw.line, done: { line: raw.line, status: 'rejected', code: 'ERR_LINE_MALFORMED', reason: 'empty line' } });
    } else {
      const parsed = parseManifestLine(raw.text);
      if (isRejection(parsed)) {
        chunk.push({ line: raw.line, done: { line: raw.line, status: 'rejected', code: parsed.code, reason: parsed.reason } });
      } else {
        const pre = precheckManifestLine(parsed, trust, now, paths);
        if (isRejection(pre)) {
          chunk.push({ line: raw.line, done: { line: raw.line, serial: parsed.serial, status: 'rejected', code: pre.code, reason: pre.reason } });
        } else if (pre.cert === null) {
          chunk.push({ line: raw.line, serial: parsed.serial, pending: pre });
        } else {
          jobs.push({ parsed: pre.cert.parsed, candidates: pre.cert.candidates, hash: pre.cert.parsed.hash, tbs: pre.cert.parsed.tbs, signature: pre.cert.parsed.signature });
          chunk.push({ line: raw.line, serial: parsed.serial, pending: pre, job: jobs.length - 1 });
        }
      }
    }
    if (chunk.length >= CHUNK_LINES) {
      flush();
      await settle(MAX_CHUNKS_IN_FLIGHT);
    }
  }
  flush();
  await settle(0);

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
