// Export/import of the seal journal as versioned JSON (the idea of EIP-3076's interchange
// format): moving a node to new storage keeps its promises. Import is all-or-nothing.
import { SealingError } from './errors.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';
import { readFileAtMost } from './journal-fs.ts';
import { CLERK_PATTERN, isHash32Hex, isSignatureHex } from './journal-record.ts';

export interface JournalEntry {
  readonly height: number;
  readonly clerk: string;
  /** 32 bytes, lowercase hex. */
  readonly blockHash: string;
  readonly seal: { readonly round: number; readonly signature: string } | null;
}

export interface JournalExport {
  readonly version: 1;
  /** -1 when nothing is finalized. */
  readonly finalizedHeight: number;
  readonly entries: readonly JournalEntry[];
}

export const MAX_INTERCHANGE_BYTES = 16 * 1024 * 1024;
export const MAX_INTERCHANGE_ENTRIES = 100_000;

/** Accepts JSON text, UTF-8 bytes or an already-parsed value; every fault names its field. */
export function parseInterchange(input: unknown): JournalExport {
  let value = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const bytes = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
    if (bytes > MAX_INTERCHANGE_BYTES) throw bad(`interchange is ${bytes} bytes, at most ${MAX_INTERCHANGE_BYTES}`, '$');
    try {
      value = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
    } catch (err) {
      throw bad(`interchange is not JSON: ${(err as Error).message}`, '$');
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('interchange must be a JSON object', '$');
  const o = value as Record<string, unknown>;
  if (o['version'] !== 1) throw bad(`version must be 1, got ${JSON.stringify(o['version'])}`, 'version');
  const finalizedHeight = o['finalizedHeight'];
  if (!Number.isSafeInteger(finalizedHeight) || (finalizedHeight as number) < -1) throw bad('finalizedHeight must be an integer >= -1', 'finalizedHeight');
  const list = o['entries'];
  if (!Array.isArray(list)) throw bad('entries must be an array', 'entries');
  if (list.length > MAX_INTERCHANGE_ENTRIES) throw bad(`entries has ${list.length} items, at most ${MAX_INTERCHANGE_ENTRIES}`, 'entries');
  const seen = new Map<string, string>();
  const entries = list.map((item: unknown, i): JournalEntry => {
    const at = `entries[${i}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw bad(`${at} must be an object`, at);
    const e = item as Record<string, unknown>;
    const height = e['height'];
    const clerk = e['clerk'];
    const blockHash = e['blockHash'];
    if (!Number.isSafeInteger(height) || (height as number) < 0) throw bad(`${at}.height must be a non-negative integer`, `${at}.height`);
    if (typeof clerk !== 'string' || !CLERK_PATTERN.test(clerk)) throw bad(`${at}.clerk must be 1..128 characters of [0-9a-zA-Z_-]`, `${at}.clerk`);
    if (!isHash32Hex(blockHash)) throw bad(`${at}.blockHash must be 64 lowercase hex characters`, `${at}.blockHash`);
    const k = `${height as number}/${clerk}`;
    if (seen.has(k)) throw bad(`${at} repeats height ${height as number} for clerk ${clerk}`, at);
    seen.set(k, blockHash);
    const s = e['seal'];
    let seal: JournalEntry['seal'] = null;
    if (s !== null && s !== undefined) {
      if (typeof s !== 'object' || Array.isArray(s)) throw bad(`${at}.seal must be an object or null`, `${at}.seal`);
      const round = (s as Record<string, unknown>)['round'];
      const signature = (s as Record<string, unknown>)['signature'];
      if (!Number.isSafeInteger(round) || (round as number) < 0 || (round as number) > 0xffff_ffff) throw bad(`${at}.seal.round must be an integer in 0..2^32-1`, `${at}.seal.round`);
      if (!isSignatureHex(signature)) throw bad(`${at}.seal.signature must be 64..512 bytes of lowercase hex`, `${at}.seal.signature`);
      seal = { round: round as number, signature };
    }
    return { height: height as number, clerk, blockHash, seal };
  });
  return { version: 1, finalizedHeight: finalizedHeight as number, entries };
}

/** Reads and checks an interchange file: at most MAX_INTERCHANGE_BYTES, a regular file, every field as parseInterchange checks it. */
export async function readInterchangeFile(file: string): Promise<JournalExport> {
  let read;
  try {
    read = await readFileAtMost(file, MAX_INTERCHANGE_BYTES);
  } catch (err) {
    throw new SealingError('ERR_JOURNAL_IO', `cannot read ${errnoOf(err) === 'ENOENT' ? `${file}: no such file` : describeFsError(err, file)}`, { file, errno: errnoOf(err) }, { cause: err });
  }
  if (!read.ok) throw bad(read.reason === 'too-large' ? `${file} is ${read.size} bytes, at most ${MAX_INTERCHANGE_BYTES}` : `${file} is not a regular file`, '$');
  return parseInterchange(read.bytes);
}

function bad(message: string, field: string): SealingError {
  return new SealingError('ERR_JOURNAL_IMPORT_INVALID', `seal journal import: ${message}`, { field });
}
