// <stateDir>/history.json: the node's hourly history, saved whole (temp file, fsync, rename:
// a power cut leaves the old or the new file, never half of one) every few minutes by its owner.
// Read back through the shared JSON readers: a damaged or foreign file is named, set aside as
// history.json.damaged for a person to look at, and the history starts again; it is never trusted.
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { array, integer, invalid, literal, nullable, object, oneOf, parseJson, readWith, string, type Reader } from '../core/json.ts';
import { describeFsError } from '../sealing/fs-errors.ts';
import { MAX_RECENT_BLOCKS, type BlockRecord } from './block-log.ts';
import { StatusError } from './errors.ts';
import { MAX_HOURS, type HistoryData, type HourBucket } from './history.ts';

export const HISTORY_FILE = 'history.json';
/** 168 hours and 50 blocks come to about 40 KB; anything much larger is not ours. */
export const MAX_HISTORY_FILE_BYTES = 128 * 1024;
export const HISTORY_VERSION = 1;

const count = integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const when = integer({ min: 0, max: 8.64e15 });
// Temperatures and percentages come with a decimal: a finite number in range, or null.
const reading = (lo: number, hi: number): Reader<number | null> => nullable({
  expects: `number in ${lo}..${hi}`,
  read(v, path) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) invalid(path, `expected number in ${lo}..${hi}`);
    return v;
  },
});

const hourReader: Reader<HourBucket> = object({
  hour: when, tested: count, refused: count, sealed: count, rounds: count, signMs: count,
  tempC: reading(-100, 300), memPct: reading(0, 100), diskPct: reading(0, 100), uptimeS: nullable(count),
});

const blockReader: Reader<BlockRecord> = object({
  height: nullable(count),
  hash: string({ max: 128, pattern: /^[0-9a-f]*$/ }),
  at: when,
  verdict: oneOf(['sealed', 'not-sealed', 'refused'] as const),
  code: string({ max: 64 }),
  reason: string({ max: 300 }),
  rounds: count,
  bestZeros: nullable(integer({ min: 0, max: 4096 })),
  zerosNeeded: nullable(integer({ min: 0, max: 4096 })),
  sealedBy: nullable(object({ nodeId: string({ min: 1, max: 128 }), round: nullable(count) })),
});

const fileReader = object({
  version: literal(HISTORY_VERSION),
  savedAt: when,
  hours: array(hourReader, { max: MAX_HOURS }),
  totals: object({ tested: count, sealed: count, rounds: count }),
  blocks: array(blockReader, { max: MAX_RECENT_BLOCKS }),
});

export interface HistoryRead {
  /** null when there was no file, or it was damaged. */
  readonly data: HistoryData | null;
  /** What was wrong with the file (it was set aside and the history starts again); null when fine or absent. */
  readonly problem: string | null;
}

/** Reads history.json; a damaged one is moved to history.json.damaged and reported, never thrown. */
export async function readHistoryFile(stateDir: string): Promise<HistoryRead> {
  const path = join(stateDir, HISTORY_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { data: null, problem: null };
    return { data: null, problem: `cannot read ${path}: ${describeFsError(err, path)}` };
  }
  try {
    const value = parseJson(bytes, MAX_HISTORY_FILE_BYTES, path);
    const read = readWith(fileReader, value, 'history', (e) => new TypeError(e.message));
    // Hours must rise: a file with hours out of order is not one this code wrote.
    for (let i = 1; i < read.hours.length; i++) if (read.hours[i]!.hour <= read.hours[i - 1]!.hour) throw new TypeError(`history.hours[${i}]: hours out of order`);
    return { data: { hours: read.hours, totals: read.totals, blocks: read.blocks }, problem: null };
  } catch (err) {
    const problem = `${path} is damaged (${(err as Error).message}); kept as ${HISTORY_FILE}.damaged, the history starts again`;
    await rename(path, `${path}.damaged`).catch(() => undefined);
    return { data: null, problem };
  }
}

/** Saves the history whole, crash-safe (fsynced: it is written every few minutes, not per block). */
export async function writeHistoryFile(stateDir: string, data: HistoryData, savedAt: number): Promise<number> {
  const path = join(stateDir, HISTORY_FILE);
  const text = JSON.stringify({ version: HISTORY_VERSION, savedAt, ...data }) + '\n';
  try {
    await writeFileAtomic(path, text, { mode: 0o644 });
  } catch (cause) {
    throw new StatusError('ERR_STATUS_HISTORY', `history not saved: ${describeFsError(cause, path)}`, { path }, { cause });
  }
  return Buffer.byteLength(text);
}
