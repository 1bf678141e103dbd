// A chunk of manifest lines as ingest hands it to a checker: the lines' bytes back to back in one
// buffer (transferred to a worker thread, not copied) and where each ends. Checking a chunk is
// everything a line needs but the store: UTF-8, JSON, fields, public areas, EK name, certificate
// chain and signature. Duplicates within the batch and against the store are ingest's, in line order.
import type { NewDevice } from '../store/types.ts';
import type { SignatureVerifier } from './cert-verify-pool.ts';
import { IntermediatePaths } from './chain.ts';
import { checkManifestLine, finishManifestLine, isRejection, parseManifestLine, precheckManifestLine, type LineRejection, type PendingLine } from './line.ts';
import type { TrustStore } from './trust.ts';

export interface LineChunk {
  /** The lines without their newlines, back to back. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Line i is bytes[ends[i - 1] ?? 0, ends[i]). */
  readonly ends: Int32Array<ArrayBuffer>;
}

/** A line's outcome: the device to file, or why not (with the serial once the line parsed). */
export type CheckedLine = NewDevice | (LineRejection & { readonly serial?: string });

/** Checks the lines of chunks, in order, against the trust store it was built from. */
export interface LineChecker {
  /** Chunks it works on at once (ingest keeps a small multiple of this in flight). */
  readonly size: number;
  check(chunk: LineChunk, now: number): Promise<CheckedLine[]>;
  close(): Promise<void>;
}

const decoder = new TextDecoder('utf-8', { fatal: false });
const EMPTY = { code: 'ERR_LINE_MALFORMED', reason: 'empty line' } as const;

/** The text of each line, or null for an empty one. */
function* lineTexts(chunk: LineChunk): Generator<string | null> {
  let start = 0;
  for (const end of chunk.ends) {
    yield end === start ? null : decoder.decode(chunk.bytes.subarray(start, end));
    start = end;
  }
}

/** Checks a chunk on this thread (a worker's job, or ingest's without one). */
export function checkChunk(chunk: LineChunk, trust: TrustStore, now: number, paths = new IntermediatePaths(trust, now)): CheckedLine[] {
  const out: CheckedLine[] = [];
  for (const text of lineTexts(chunk)) {
    if (text === null) {
      out.push(EMPTY);
      continue;
    }
    const parsed = parseManifestLine(text);
    if (isRejection(parsed)) {
      out.push(parsed);
      continue;
    }
    const checked = checkManifestLine(parsed, trust, now, paths);
    out.push(isRejection(checked) ? { serial: parsed.serial, code: checked.code, reason: checked.reason } : checked);
  }
  return out;
}

/**
 * Checks a chunk on this thread but for the EK certificates' signatures, which `verifier`
 * (signature-only worker threads) checks.
 */
export async function checkChunkVerifying(chunk: LineChunk, trust: TrustStore, now: number, paths: IntermediatePaths, verifier: SignatureVerifier): Promise<CheckedLine[]> {
  const out: (CheckedLine | { serial: string; pending: PendingLine; job: number })[] = [];
  const jobs: PendingLine['cert'][] = [];
  for (const text of lineTexts(chunk)) {
    if (text === null) {
      out.push(EMPTY);
      continue;
    }
    const parsed = parseManifestLine(text);
    const pre = isRejection(parsed) ? parsed : precheckManifestLine(parsed, trust, now, paths);
    if (isRejection(pre)) {
      out.push(isRejection(parsed) ? pre : { serial: parsed.serial, code: pre.code, reason: pre.reason });
    } else {
      if (pre.cert !== null) jobs.push(pre.cert);
      out.push({ serial: (parsed as { serial: string }).serial, pending: pre, job: pre.cert === null ? -1 : jobs.length - 1 });
    }
  }
  // only what the worker needs, copied out of the certificate buffers (a view would clone its whole ArrayBuffer)
  const verified = jobs.length === 0 ? new Int32Array(0) : await verifier.verify(jobs.map((j) => ({
    candidates: j!.candidates, hash: j!.parsed.hash, tbs: j!.parsed.tbs.slice(), signature: j!.parsed.signature.slice(),
  })));
  return out.map((o) => {
    if (!('pending' in o)) return o;
    const checked = finishManifestLine(o.pending, o.job < 0 ? -1 : verified[o.job]!, trust, now);
    return isRejection(checked) ? { serial: o.serial, code: checked.code, reason: checked.reason } : checked;
  });
}
