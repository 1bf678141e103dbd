// On-disk format of the seal journal (docs/seal-journal.md): an 8-byte magic, then records appended
// one after the other:
//
//   u32be length | u32be ~length | u32be CRC-32(body) | body (UTF-8 JSON, `length` bytes)
//
// The inverted length lets the reader tell a damaged length field (corruption: refuse) from a
// record cut short by a power loss (a torn tail: truncate). Only the last record may be torn.
// The writer preallocates zeros after the data (appends then change no file size, so fdatasync
// has no metadata to commit); zeros are never a record, since the length check of 0 fails.
import { invalidArgument, SealingError } from './errors.ts';
import { crc32 } from './crc32.ts';

export const FILE_MAGIC = new TextEncoder().encode('BTNSEAL1');
export const RECORD_HEADER_BYTES = 12;
export const MAX_RECORD_BODY_BYTES = 64 * 1024;
export const CLERK_PATTERN = /^[0-9a-zA-Z_-]{1,128}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const HEX_SIG = /^(?:[0-9a-f]{2}){64,512}$/;

/**
 * k: i = decision (checked and recorded before the TPM signs; a later one for another block
 * replaces it while the slot has no seal), s = seal, recorded before it is published, with the
 * TPM seal counter's value after the increment made for it (n; absent in journals without a
 * counter and in imported seals), f = finalized watermark, a = the counter value the journal
 * stands at (written by compaction, and when a loss of records is over).
 */
export type JournalRecord =
  | { readonly k: 'i'; readonly h: number; readonly c: string; readonly b: string }
  | { readonly k: 's'; readonly h: number; readonly c: string; readonly b: string; readonly r: number; readonly s: string; readonly n?: number }
  | { readonly k: 'f'; readonly h: number }
  | { readonly k: 'a'; readonly n: number };

export function encodeRecord(record: JournalRecord): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(record));
  if (body.length > MAX_RECORD_BODY_BYTES) throw new SealingError('ERR_JOURNAL_INVALID_ARGUMENT', `journal record of ${body.length} bytes exceeds ${MAX_RECORD_BODY_BYTES}`);
  const out = new Uint8Array(RECORD_HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length, false);
  view.setUint32(4, ~body.length >>> 0, false);
  view.setUint32(8, crc32(body), false);
  out.set(body, RECORD_HEADER_BYTES);
  return out;
}

export interface ScanResult {
  readonly records: readonly { readonly offset: number; readonly record: JournalRecord }[];
  /** Bytes of the file that hold the magic and whole, valid records (zeros may follow). */
  readonly validEnd: number;
  /** Set when the file ends in a torn record (to be truncated at validEnd). */
  readonly torn: { readonly offset: number; readonly reason: string } | null;
}

/** Reads a whole journal. Throws ERR_JOURNAL_CORRUPT (with file and byte offset) for damage before the tail. */
export function scanJournal(bytes: Uint8Array, file: string): ScanResult {
  const corrupt = (offset: number, reason: string): SealingError =>
    new SealingError('ERR_JOURNAL_CORRUPT', `seal journal ${file} is corrupt at byte offset ${offset}: ${reason}; refusing to start (restore it or import an export, never delete it blindly)`, { file, offset, reason });
  if (bytes.length < FILE_MAGIC.length || !FILE_MAGIC.every((b, i) => bytes[i] === b)) {
    throw corrupt(0, 'not a seal journal (bad magic)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: { offset: number; record: JournalRecord }[] = [];
  let off = FILE_MAGIC.length;
  const torn = (reason: string): ScanResult => ({ records, validEnd: off, torn: { offset: off, reason } });
  while (off < bytes.length) {
    // Zeros to the end: space preallocated by the writer, or extended by a power loss before
    // the data landed. Either way, nothing was acknowledged there.
    if (allZero(bytes, off)) return { records, validEnd: off, torn: null };
    const remaining = bytes.length - off;
    if (remaining < RECORD_HEADER_BYTES) return torn(`partial record header (${remaining} bytes)`);
    const len = view.getUint32(off, false);
    const inv = view.getUint32(off + 4, false);
    if ((~len >>> 0) !== inv || len > MAX_RECORD_BODY_BYTES) {
      if (allZero(bytes, off + RECORD_HEADER_BYTES)) return torn('partial record header');
      throw corrupt(off, (~len >>> 0) !== inv ? 'record length check failed' : `record length ${len} exceeds ${MAX_RECORD_BODY_BYTES}`);
    }
    const end = off + RECORD_HEADER_BYTES + len;
    if (end > bytes.length) return torn(`record needs ${len} body bytes, ${remaining - RECORD_HEADER_BYTES} present`);
    if (crc32(bytes, off + RECORD_HEADER_BYTES, end) !== view.getUint32(off + 8, false)) {
      // Only the last record may be torn: one followed by nothing, or by zeros alone.
      if (allZero(bytes, end)) return torn('last record fails its CRC-32');
      throw corrupt(off, 'record fails its CRC-32');
    }
    let record: JournalRecord;
    try {
      record = parseRecordBody(bytes.subarray(off + RECORD_HEADER_BYTES, end));
    } catch (err) {
      throw corrupt(off, `record body invalid: ${(err as Error).message}`);
    }
    records.push({ offset: off, record });
    off = end;
  }
  return { records, validEnd: off, torn: null };
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function parseRecordBody(body: Uint8Array): JournalRecord {
  const o: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new TypeError('not an object');
  const r = o as Record<string, unknown>;
  if (r['k'] === 'a') return { k: 'a', n: counterField(r['n']) };
  const h = r['h'];
  if (!Number.isSafeInteger(h) || (h as number) < 0) throw new TypeError('h must be a height');
  if (r['k'] === 'f') return { k: 'f', h: h as number };
  const c = r['c'];
  const b = r['b'];
  if (typeof c !== 'string' || !CLERK_PATTERN.test(c)) throw new TypeError('c must be a clerk id');
  if (typeof b !== 'string' || !HEX32.test(b)) throw new TypeError('b must be a 32-byte hex hash');
  if (r['k'] === 'i') return { k: 'i', h: h as number, c, b };
  if (r['k'] === 's') {
    const round = r['r'];
    const s = r['s'];
    if (!Number.isSafeInteger(round) || (round as number) < 0 || (round as number) > 0xffff_ffff) throw new TypeError('r must be a round');
    if (typeof s !== 'string' || !HEX_SIG.test(s)) throw new TypeError('s must be a hex signature');
    return r['n'] === undefined ? { k: 's', h: h as number, c, b, r: round as number, s } : { k: 's', h: h as number, c, b, r: round as number, s, n: counterField(r['n']) };
  }
  throw new TypeError(`unknown record kind ${JSON.stringify(r['k'])}`);
}

function counterField(n: unknown): number {
  if (!Number.isSafeInteger(n) || (n as number) < 0) throw new TypeError('n must be a counter value');
  return n as number;
}

/** The fields of an intent or a seal, checked at the journal's boundary. */
export function checkIntentFields(i: { readonly height: number; readonly clerk: string; readonly blockHash: Uint8Array }): { height: number; clerk: string } {
  if (i === null || typeof i !== 'object') throw invalidArgument('seal intent must be an object', 'intent');
  if (!Number.isSafeInteger(i.height) || i.height < 0) throw invalidArgument('height must be a non-negative integer', 'height');
  if (typeof i.clerk !== 'string' || !CLERK_PATTERN.test(i.clerk)) throw invalidArgument('clerk must be 1..128 characters of [0-9a-zA-Z_-]', 'clerk');
  if (!(i.blockHash instanceof Uint8Array) || i.blockHash.length !== 32) throw invalidArgument('blockHash must be 32 bytes', 'blockHash');
  return { height: i.height, clerk: i.clerk };
}
