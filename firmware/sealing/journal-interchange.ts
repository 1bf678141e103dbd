// Export/import of the seal journal as versioned JSON (the idea of EIP-3076's interchange
// format): moving a node to new storage keeps its promises. Import is all-or-nothing.
import { SealingError } from './errors.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';
import { readFileAtMost } from './journal-fs.ts';
import { CLERK_PATTERN } from './journal-record.ts';
import { array, hexText, integer, invalid, JsonError, literal, map, nullable, object, optional, parseJson, readWith, string } from '../core/json.ts';

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

// Exact, as export writes it: a misspelt key must not be ignored in what a node will refuse to sign.
const interchange = map(object({
  version: literal(1),
  finalizedHeight: integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
  entries: array(object({
    height: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    clerk: string({ min: 1, max: 128, pattern: CLERK_PATTERN, what: '1..128 characters of [0-9a-zA-Z_-]' }),
    blockHash: hexText({ bytes: 32, lowercase: true }),
    seal: optional(nullable(object({
      round: integer({ min: 0, max: 0xffff_ffff }),
      signature: hexText({ min: 64, max: 512, lowercase: true }),
    }))),
  }), { max: MAX_INTERCHANGE_ENTRIES }),
}), (o, path): JournalExport => {
  const seen = new Set<string>();
  o.entries.forEach((e, i) => {
    const k = `${e.height}/${e.clerk}`;
    if (seen.has(k)) invalid(`${path}entries[${i}]`, `repeats height ${e.height} for clerk ${e.clerk}`);
    seen.add(k);
  });
  return { version: 1, finalizedHeight: o.finalizedHeight, entries: o.entries.map((e) => ({ height: e.height, clerk: e.clerk, blockHash: e.blockHash, seal: e.seal ?? null })) };
});

/** Accepts JSON text, UTF-8 bytes or an already-parsed value; every fault names its field. */
export function parseInterchange(input: unknown): JournalExport {
  let value = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      value = parseJson(input, MAX_INTERCHANGE_BYTES, 'interchange');
    } catch (err) {
      throw bad(err instanceof JsonError && err.code === 'ERR_JSON_OVERSIZE' ? err.message : 'interchange is not JSON (or not UTF-8)', '$');
    }
  }
  return readWith(interchange, value, '', (err) => (err.path === '' ? bad('interchange must be a JSON object', '$') : bad(err.message, err.path)));
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
