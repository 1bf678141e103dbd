// The seal journal (docs/seal-journal.md; modelled on EIP-3076 slashing protection): checked and
// written durably BEFORE the TPM signs, so that no crash can make a node seal two blocks for one
// (height, clerk). Append-only file (format in journal-record.ts), fsync after every append,
// fsync of the directory on create and rename, an exclusive lock file; anchored in the TPM's
// seal counter (journal-anchor.ts) so that lost records show. No SQLite: the device must not
// need a second native addon (docs/components.md).
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { invalidArgument, SealingError } from './errors.ts';
import { acquireJournalLock, type JournalLock } from './journal-lock.ts';
import { checkIntentFields, encodeRecord, FILE_MAGIC, type JournalRecord } from './journal-record.ts';
import { createFile, exists, reserveZeros } from './journal-fs.ts';
import { concatBytes, fromHex, toHex } from '../core/bytes.ts';
import { anchorMismatch, compareAnchor, describeRollback, LostRecords, type JournalRollback, type SealCounter } from './journal-anchor.ts';
import { exportSlots, replayJournal, type JournalSlots, type Slot } from './journal-slots.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';
import { parseInterchange, type JournalExport } from './journal-interchange.ts';
import { planImport, type ImportOptions, type ImportResult } from './journal-import.ts';

export type { JournalEntry, JournalExport } from './journal-interchange.ts';
export type { ImportOptions, ImportResult } from './journal-import.ts';
export type { JournalRollback, SealCounter } from './journal-anchor.ts';

/** Largest journal read at open; compaction keeps real journals far below it. */
export const MAX_JOURNAL_BYTES = 256 * 1024 * 1024;
const DEFAULT_PREALLOCATE_BYTES = 64 * 1024;

export interface RecordedSeal {
  readonly height: number;
  readonly clerk: string;
  readonly blockHash: Uint8Array;
  readonly round: number;
  readonly signature: Uint8Array;
}

export interface SealIntent {
  readonly height: number;
  readonly clerk: string;
  readonly blockHash: Uint8Array;
}

// A decision the journal has durably recorded; the seal signer signs nothing else. The brand's
// key is an unexported symbol, so no code outside this module can write one down, and the
// journal keeps each one it hands out in a WeakSet, so a cast does not make one either.
declare const recorded: unique symbol;
export interface RecordedDecision extends SealIntent {
  readonly [recorded]: true;
}
const issued = new WeakSet<object>();

/** Whether `value` was handed out by a journal's checkAndRecord (a brand cast onto a copy is not). */
export function isRecordedDecision(value: unknown): value is RecordedDecision {
  return typeof value === 'object' && value !== null && issued.has(value);
}

function decisionOf(height: number, clerk: string, blockHash: string): RecordedDecision {
  const d = Object.freeze({ height, clerk, blockHash: fromHex(blockHash) }); // the bytes stay mutable: the signer re-checks them
  issued.add(d);
  return d as SealIntent as RecordedDecision;
}

export type CheckResult =
  | { readonly ok: true; readonly decision: RecordedDecision; readonly seal?: RecordedSeal }
  | { readonly ok: false; readonly reason: 'conflicting-block'; readonly message: string; readonly height: number; readonly clerk: string; readonly recordedBlockHash: Uint8Array }
  | { readonly ok: false; readonly reason: 'finalized'; readonly message: string; readonly height: number; readonly finalizedHeight: number }
  | { readonly ok: false; readonly reason: 'lost-records'; readonly message: string; readonly height: number; readonly rollback: JournalRollback };

export interface SealJournalOptions {
  readonly logger?: Logger;
  /** After setFinalized, compact when the file is larger than this (default 4 MiB). */
  readonly compactAboveBytes?: number;
  /** Heights kept below the watermark by compaction (default 1000). */
  readonly retainBelowWatermark?: number;
  /** Zeros written ahead of the data so that most appends change no file size (default 64 KiB; 0: off). */
  readonly preallocateBytes?: number;
  /**
   * The TPM's seal counter: advanced before each seal is recorded and published, compared at
   * open. Without one (unit tests, tools) the journal cannot notice lost records.
   */
  readonly counter?: SealCounter;
}

export interface SealJournal {
  readonly path: string;
  /** Highest finalized height; -1 when nothing is finalized yet. */
  readonly finalizedHeight: number;
  readonly size: number;
  /** Slots (height, clerk) recorded; compaction drops old finalized ones. */
  readonly entryCount: number;
  /** Highest height with a recorded decision; -1 when none. */
  readonly highestHeight: number;
  /** Records found lost at open (the TPM counter is ahead of the file), until a final block is above them; null otherwise. */
  readonly rollback: JournalRollback | null;
  /** Calls `fn` now and whenever `rollback` changes (the ceiling becomes known, the loss is over). Returns an unsubscribe. */
  watchRollback(fn: (rollback: JournalRollback | null) => void): () => void;
  checkAndRecord(intent: SealIntent): Promise<CheckResult>;
  /** Whether a decision for exactly this block is recorded for (height, clerk) above the watermark: the seal signer asks before every signature. */
  holds(intent: SealIntent): boolean;
  /** Advances the TPM seal counter, then records the seal with its value: after this the seal may be published. */
  recordSeal(seal: RecordedSeal): Promise<void>;
  setFinalized(height: number): Promise<void>;
  export(): JournalExport;
  import(input: unknown, options?: ImportOptions): Promise<ImportResult>;
  compact(options?: { readonly retainBelowWatermark?: number }): Promise<{ readonly before: number; readonly after: number; readonly dropped: number }>;
  close(): Promise<void>;
}

export async function openSealJournal(path: string, options: SealJournalOptions = {}): Promise<SealJournal> {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096 || path.includes('\0')) throw invalidArgument('journal path must be a non-empty string', 'path');
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'seal-journal' });
  let lock: JournalLock;
  try {
    await mkdir(dirname(path), { recursive: true });
    lock = await acquireJournalLock(path);
  } catch (err) {
    if (err instanceof SealingError) throw err;
    // Until now a full or read-only disk escaped as a bare errno and stopped the service.
    throw new SealingError('ERR_JOURNAL_IO', `cannot open seal journal: ${describeFsError(err, path)}`, { file: path, errno: errnoOf(err) }, { cause: err });
  }
  try {
    await rm(`${path}.tmp`, { force: true }); // a compaction cut short; we hold the lock
    if (!(await exists(path))) await createFile(path, [FILE_MAGIC]);
    const size = (await stat(path)).size;
    if (size > MAX_JOURNAL_BYTES) throw new SealingError('ERR_JOURNAL_CORRUPT', `seal journal ${path} is ${size} bytes, more than ${MAX_JOURNAL_BYTES}`, { file: path, offset: MAX_JOURNAL_BYTES });
    const bytes = new Uint8Array(await readFile(path));
    const { scan, slots } = replayJournal(bytes, path);
    const lost = await anchor(path, slots, options.counter);
    const fh = await open(path, 'r+');
    try {
      let allocated = bytes.length;
      if (scan.torn !== null) {
        // A power cut mid-append. Dropped silently only when the counter shows it was never
        // acknowledged (the counter is where the intact records leave it); else it is part of the loss.
        const detail = { file: path, offset: scan.torn.offset, reason: scan.torn.reason, droppedBytes: bytes.length - scan.validEnd };
        if (lost === null) log.warn(detail, 'seal journal: truncating a torn last record (never acknowledged: the TPM counter matches the intact records)');
        else log.error(detail, 'seal journal: truncating a damaged last record; the TPM counter shows acknowledged records are missing');
        await fh.truncate(scan.validEnd);
        await fh.sync();
        allocated = scan.validEnd;
      }
      // Reserve the space of the next appends now: a full disk shows at start, not at a seal,
      // and a disk that fills later leaves this journal room for a while.
      const reserve = options.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES;
      if (reserve > 0 && allocated - scan.validEnd < reserve / 2) allocated = await reserveZeros(fh, allocated, scan.validEnd + reserve);
      const journal = new FileSealJournal(path, fh, scan.validEnd, allocated, lock, log, options, slots, lost);
      if (lost !== null) log.error({ file: path, ...lost.state }, describeRollback(lost.state));
      log.info({ file: path, entries: journal.entryCount, finalizedHeight: journal.finalizedHeight, counter: slots.counter }, 'seal journal open');
      return journal;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await lock.release();
    if (err instanceof SealingError) throw err;
    throw new SealingError('ERR_JOURNAL_IO', `cannot open seal journal: ${describeFsError(err, path)}`, { file: path, errno: errnoOf(err) }, { cause: err });
  }
}

/** Compares the journal's newest counter value with the TPM's: null when in step, the loss when behind; throws when ahead. */
async function anchor(path: string, slots: JournalSlots, counter: SealCounter | undefined): Promise<LostRecords | null> {
  if (counter === undefined) return null;
  const tpm = await counter.read();
  const how = compareAnchor(slots.counter, tpm);
  if (how === 'in-step') return null;
  if (how === 'ahead') throw anchorMismatch(path, counter.name, slots.counter, tpm);
  return new LostRecords(tpm!, slots.counter, slots.finalized + 1);
}

class FileSealJournal implements SealJournal {
  readonly #slots: JournalSlots;
  #lost: LostRecords | null;
  #watcher: ((r: JournalRollback | null) => void) | null = null;
  #fh: FileHandle;
  #size: number;
  /** File size: #size plus preallocated zeros. */
  #allocated: number;
  #closed = false;
  #failed: SealingError | null = null;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string, fh: FileHandle, size: number, allocated: number, private readonly lock: JournalLock, private readonly log: Logger,
    private readonly options: SealJournalOptions, slots: JournalSlots, lost: LostRecords | null,
  ) {
    this.#fh = fh;
    this.#size = size;
    this.#allocated = allocated;
    this.#slots = slots;
    this.#lost = lost;
  }

  get finalizedHeight(): number {
    return this.#slots.finalized;
  }

  get size(): number {
    return this.#size;
  }

  get entryCount(): number {
    return this.#slots.entries.size;
  }

  get highestHeight(): number {
    return this.#slots.highest;
  }

  get rollback(): JournalRollback | null {
    return this.#lost?.state ?? null;
  }

  watchRollback(fn: (rollback: JournalRollback | null) => void): () => void {
    this.#watcher = fn;
    fn(this.rollback);
    return () => {
      if (this.#watcher === fn) this.#watcher = null;
    };
  }

  async checkAndRecord(intent: SealIntent): Promise<CheckResult> {
    const { height, clerk } = checkIntentFields(intent);
    const hash = toHex(intent.blockHash);
    return this.#serial(async () => {
      const finalized = this.#slots.finalized;
      if (height <= finalized) {
        return { ok: false, reason: 'finalized', message: `height ${height} is at or below the finalized height ${finalized}`, height, finalizedHeight: finalized } as const;
      }
      if (this.#lost?.refuses(height)) {
        const rollback = this.#lost.state;
        return { ok: false, reason: 'lost-records', message: `not sealing at height ${height}: ${describeRollback(rollback)}`, height, rollback } as const;
      }
      const e = this.#slots.get(height, clerk);
      if (e?.seal != null) {
        if (e.blockHash !== hash) {
          return {
            ok: false, reason: 'conflicting-block', height, clerk, recordedBlockHash: fromHex(e.blockHash),
            message: `already sealed block ${e.blockHash.slice(0, 16)}… at height ${height} for clerk ${clerk.slice(0, 16)}…, refusing ${hash.slice(0, 16)}…`,
          } as const;
        }
        return { ok: true, decision: decisionOf(height, clerk, hash), seal: toSeal(e) } as const;
      }
      if (e?.blockHash === hash) return { ok: true, decision: decisionOf(height, clerk, hash) } as const;
      // No seal at this slot: a first decision, or a re-drawn block taking over from an attempt
      // that ended without a seal (its signatures were never recorded, so never published).
      if (e !== undefined) this.log.info({ height, clerk: clerk.slice(0, 16), from: e.blockHash.slice(0, 16), to: hash.slice(0, 16) }, 'seal journal: an attempt without a seal gives way to another block');
      const record: JournalRecord = { k: 'i', h: height, c: clerk, b: hash };
      await this.#append([record]);
      this.#slots.apply(record);
      return { ok: true, decision: decisionOf(height, clerk, hash) } as const;
    });
  }

  holds(intent: SealIntent): boolean {
    const { height, clerk } = checkIntentFields(intent);
    if (height <= this.#slots.finalized || this.#lost?.refuses(height)) return false;
    return this.#slots.get(height, clerk)?.blockHash === toHex(intent.blockHash);
  }

  async recordSeal(seal: RecordedSeal): Promise<void> {
    const { height, clerk } = checkIntentFields(seal);
    if (!Number.isSafeInteger(seal.round) || seal.round < 0 || seal.round > 0xffff_ffff) throw invalidArgument('round must be an integer in 0..2^32-1', 'round');
    if (!(seal.signature instanceof Uint8Array) || seal.signature.length < 64 || seal.signature.length > 512) throw invalidArgument('signature must be 64..512 bytes', 'signature');
    const b = toHex(seal.blockHash);
    const s = toHex(seal.signature);
    return this.#serial(async () => {
      const e = this.#slots.get(height, clerk);
      if (e === undefined) {
        throw new SealingError('ERR_JOURNAL_NO_INTENT', `no recorded decision for block ${b.slice(0, 16)}… at height ${height}, clerk ${clerk.slice(0, 16)}…`, { height, clerk });
      }
      if (e.seal !== null) {
        if (e.blockHash === b && e.seal.round === seal.round && e.seal.signature === s) return;
        throw new SealingError('ERR_JOURNAL_SEAL_EXISTS', `a seal of round ${e.seal.round} is already recorded at height ${height}`, { height, clerk, round: e.seal.round });
      }
      if (e.blockHash !== b) {
        throw new SealingError('ERR_JOURNAL_SUPERSEDED', `block ${b.slice(0, 16)}… no longer holds height ${height} for clerk ${clerk.slice(0, 16)}…: a re-drawn block ${e.blockHash.slice(0, 16)}… took the slot; this seal is dropped, never published`, { height, clerk });
      }
      if (height <= this.#slots.finalized || this.#lost?.refuses(height)) {
        throw new SealingError('ERR_JOURNAL_NO_INTENT', `height ${height} may no longer be sealed (finalized, or records were lost)`, { height, clerk });
      }
      // The counter first: a seal on disk (and so possibly published) always has the counter at
      // or past its n. A crash after the increment and before the record shows as lost records.
      const n = await this.#advanceCounter();
      const record: JournalRecord = n === null ? { k: 's', h: height, c: clerk, b, r: seal.round, s } : { k: 's', h: height, c: clerk, b, r: seal.round, s, n };
      await this.#append([record]);
      this.#slots.apply(record);
    });
  }

  async setFinalized(height: number): Promise<void> {
    if (!Number.isSafeInteger(height) || height < 0) throw invalidArgument('finalized height must be a non-negative integer', 'height');
    return this.#serial(async () => {
      const previous = this.#slots.finalized;
      if (height <= previous) return; // monotonic
      const over = this.#lost?.finalized(previous, height) ?? false;
      const records: JournalRecord[] = [{ k: 'f', h: height }];
      // The loss is over: the journal takes the counter's value, so a restart does not report it again.
      if (over) records.push({ k: 'a', n: this.#lost!.counter });
      await this.#append(records);
      for (const r of records) this.#slots.apply(r);
      if (this.#lost !== null) {
        if (over) {
          this.log.info({ file: this.path, finalizedHeight: height }, 'seal journal: a final block is above every height the lost records could cover; sealing resumes');
          this.#lost = null;
        }
        this.#watcher?.(this.rollback);
      }
      if (this.#size > (this.options.compactAboveBytes ?? 4 * 1024 * 1024)) await this.#compact(this.options.retainBelowWatermark ?? 1000);
    });
  }

  export(): JournalExport {
    this.#usable();
    return exportSlots(this.#slots);
  }

  async import(input: unknown, options: ImportOptions = {}): Promise<ImportResult> {
    const doc = parseInterchange(input);
    return this.#serial(async () => {
      const plan = planImport(this.#slots, doc, options); // throws on a conflict: nothing is written
      if (plan.records.length > 0) {
        await this.#append(plan.records); // one write and one fsync: a torn import leaves a consistent prefix
        for (const r of plan.records) this.#slots.apply(r);
      }
      this.log.info({ added: plan.added, sealsAdded: plan.sealsAdded, finalizedHeight: this.#slots.finalized }, 'seal journal import');
      return { added: plan.added, sealsAdded: plan.sealsAdded, finalizedHeight: this.#slots.finalized };
    });
  }

  async compact(options: { readonly retainBelowWatermark?: number } = {}): Promise<{ before: number; after: number; dropped: number }> {
    const retain = options.retainBelowWatermark ?? this.options.retainBelowWatermark ?? 1000;
    if (!Number.isSafeInteger(retain) || retain < 0) throw invalidArgument('retainBelowWatermark must be a non-negative integer', 'retainBelowWatermark');
    return this.#serial(() => this.#compact(retain));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher = null;
    await this.#tail.catch(() => undefined);
    await this.#fh.close().catch(() => undefined);
    await this.lock.release();
  }

  async #advanceCounter(): Promise<number | null> {
    const counter = this.options.counter;
    if (counter === undefined) return null;
    try {
      return await counter.increment();
    } catch (err) {
      // Nothing was written: this seal is not recorded and so never published. If the TPM did
      // count it, the next seal records the value read back, and a restart before that reports lost records.
      throw new SealingError('ERR_JOURNAL_COUNTER', `seal counter ${counter.name} could not be advanced, seal not recorded: ${(err as Error).message}`, { counter: counter.name }, { cause: err });
    }
  }

  // Slots far below the watermark are refused by the watermark itself, so dropping those loses
  // nothing that protects; they are kept for a while for export and diagnosis. The newest
  // counter value is kept as an 'a' record.
  async #compact(retain: number): Promise<{ before: number; after: number; dropped: number }> {
    const before = this.#size;
    const cutoff = this.#slots.finalized - retain;
    const chunks = [FILE_MAGIC, ...this.#slots.records(cutoff).map(encodeRecord)];
    try {
      await createFile(this.path, chunks); // temp, fsync, rename over, fsync dir
      const fh = await open(this.path, 'r+');
      await this.#fh.close().catch(() => undefined);
      this.#fh = fh;
      this.#size = chunks.reduce((n, c) => n + c.length, 0);
      this.#allocated = this.#size;
    } catch (err) {
      this.#failed = new SealingError('ERR_JOURNAL_FAILED', `seal journal compaction failed: ${describeFsError(err, this.path)}`, { file: this.path, errno: errnoOf(err) }, { cause: err });
      throw this.#failed;
    }
    const dropped = this.#slots.drop(cutoff);
    this.log.info({ file: this.path, before, after: this.#size, dropped }, 'seal journal compacted');
    return { before, after: this.#size, dropped };
  }

  async #append(records: readonly JournalRecord[]): Promise<void> {
    const parts = records.map(encodeRecord);
    const data = parts.length === 1 ? parts[0]! : concatBytes(parts);
    // Past the preallocated space: write zeros after the data in the same write; this one append
    // changes the file size (full fsync), the next ones land in place (fdatasync, no metadata).
    const grow = this.#size + data.length > this.#allocated;
    const pre = grow ? (this.options.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES) : 0;
    const bytes = pre > 0 ? concatBytes([data, new Uint8Array(pre)]) : data;
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await this.#fh.write(bytes, done, bytes.length - done, this.#size + done);
        done += bytesWritten;
      }
      if (grow) await this.#fh.sync();
      else await this.#fh.datasync();
    } catch (err) {
      // After a failed write or fsync the file's state is unknown (the page cache may have dropped
      // the error): stop using this handle; reopening re-reads and checks the file.
      this.#failed = new SealingError('ERR_JOURNAL_FAILED', `seal journal append failed: ${describeFsError(err, this.path)}`, { file: this.path, errno: errnoOf(err) }, { cause: err });
      throw this.#failed;
    }
    this.#size += data.length;
    this.#allocated = Math.max(this.#allocated, this.#size + pre);
  }

  #usable(): void {
    if (this.#closed) throw new SealingError('ERR_JOURNAL_CLOSED', `seal journal ${this.path} is closed`, { file: this.path });
    if (this.#failed !== null) throw this.#failed;
  }

  // One operation at a time: the check and the record of checkAndRecord are one transaction.
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      this.#usable();
      return fn();
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }
}

function toSeal(e: Slot): RecordedSeal {
  return { height: e.height, clerk: e.clerk, blockHash: fromHex(e.blockHash), round: e.seal!.round, signature: fromHex(e.seal!.signature) };
}
