// The node's own history for the status page and Home Assistant: one bucket per hour over the
// last 7 days (blocks tested, seals, spin rounds, TPM signing time, CPU temperature, memory, disk,
// uptime), totals since the history began, and the recent blocks ("why didn't I seal?"). It is
// counted in memory and saved by its owner every few minutes (history-file.ts), never per block.
import { RecentBlocks, type BlockRecord } from './block-log.ts';

export const HOUR_MS = 3_600_000;
/** 7 days of hourly buckets. */
export const MAX_HOURS = 7 * 24;

export interface HourBucket {
  /** Start of the hour, ms since epoch (a multiple of HOUR_MS). */
  readonly hour: number;
  /** Candidates this node checked (taken up or refused). */
  readonly tested: number;
  readonly refused: number;
  /** Seals this node made (signed and recorded; reused ones not counted again). */
  readonly sealed: number;
  /** TPM signatures made while spinning. */
  readonly rounds: number;
  /** Sum of the TPM signing times, ms (average: signMs / rounds). */
  readonly signMs: number;
  /** Highest CPU temperature seen in the hour, °C; null when the board has no sensor. */
  readonly tempC: number | null;
  /** Highest memory use seen in the hour, %. */
  readonly memPct: number | null;
  /** Disk use of the state directory at the last sample, %. */
  readonly diskPct: number | null;
  /** The agent's uptime at the last sample, s (a drop is a restart). */
  readonly uptimeS: number | null;
}

export interface HistoryTotals {
  readonly tested: number;
  readonly sealed: number;
  readonly rounds: number;
}

export interface HistoryData {
  readonly hours: readonly HourBucket[];
  readonly totals: HistoryTotals;
  readonly blocks: readonly BlockRecord[];
}

/** What Home Assistant shows: totals since the history began, and this hour's TPM signing time. */
export interface HistoryFigures {
  readonly blocksTested: number;
  readonly blocksSealed: number;
  readonly spinRounds: number;
  /** Average TPM signing time over the current hour, ms; null before the first signature. */
  readonly tpmSignMs: number | null;
}

export interface SystemSample {
  readonly tempC: number | null;
  readonly memPct: number | null;
  readonly diskPct: number | null;
  readonly uptimeS: number | null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const empty = (hour: number): Mutable<HourBucket> => ({ hour, tested: 0, refused: 0, sealed: 0, rounds: 0, signMs: 0, tempC: null, memPct: null, diskPct: null, uptimeS: null });
const max = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b));

export class History {
  readonly #now: () => number;
  readonly #hours: Mutable<HourBucket>[];
  readonly #totals: Mutable<HistoryTotals>;
  readonly #blocks: RecentBlocks;
  #changes = 0;
  /** What was wrong with the saved history when it was read (it started again); null when nothing. */
  readonly notice: string | null;

  constructor(now: () => number, data: HistoryData | null = null, notice: string | null = null) {
    this.#now = now;
    this.notice = notice;
    this.#hours = (data?.hours ?? []).map((h) => ({ ...h }));
    this.#totals = { ...(data?.totals ?? { tested: 0, sealed: 0, rounds: 0 }) };
    this.#blocks = new RecentBlocks(data?.blocks ?? []);
    this.#prune(Math.floor(now() / HOUR_MS) * HOUR_MS);
  }

  /** Changes since the last markSaved(): the owner saves only when there are some. */
  get changes(): number {
    return this.#changes;
  }

  markSaved(): void {
    this.#changes = 0;
  }

  /** A candidate checked: refused, or taken up (its block record comes with it). */
  block(record: BlockRecord): void {
    const b = this.#bucket();
    b.tested++;
    this.#totals.tested++;
    if (record.verdict === 'refused') b.refused++;
    this.#blocks.add(record);
    this.#changes++;
  }

  /** TPM signatures of a spin (its rounds), and how long they took in all. */
  rounds(count: number, signMs: number): void {
    if (count <= 0) return;
    const b = this.#bucket();
    b.rounds += count;
    b.signMs += Math.max(0, Math.round(signMs));
    this.#totals.rounds += count;
    this.#changes++;
  }

  /** A seal this node made (not one it published again). */
  sealed(): void {
    this.#bucket().sealed++;
    this.#totals.sealed++;
    this.#changes++;
  }

  sealSeen(hash: string, nodeId: string, round: number): void {
    this.#blocks.sealSeen(hash, nodeId, round);
  }

  final(hash: string, sealedBy: readonly string[]): void {
    this.#blocks.final(hash, sealedBy);
  }

  /** System facts, sampled every minute or so: the hour keeps the highest temperature and memory, the last disk and uptime. */
  sample(s: SystemSample): void {
    const b = this.#bucket();
    b.tempC = max(b.tempC, s.tempC);
    b.memPct = max(b.memPct, s.memPct);
    if (s.diskPct !== null) b.diskPct = s.diskPct;
    if (s.uptimeS !== null) b.uptimeS = s.uptimeS;
    this.#changes++;
  }

  /** Tested and sealed since `since` (ms since epoch), from the hours that begin at or after it. */
  countSince(since: number): { tested: number; sealed: number } {
    let tested = 0;
    let sealed = 0;
    for (const h of this.#hours) if (h.hour + HOUR_MS > since) { tested += h.tested; sealed += h.sealed; }
    return { tested, sealed };
  }

  figures(): HistoryFigures {
    const hour = Math.floor(this.#now() / HOUR_MS) * HOUR_MS;
    const current = this.#hours.at(-1);
    const tpmSignMs = current !== undefined && current.hour === hour && current.rounds > 0 ? Math.round((10 * current.signMs) / current.rounds) / 10 : null;
    return { blocksTested: this.#totals.tested, blocksSealed: this.#totals.sealed, spinRounds: this.#totals.rounds, tpmSignMs };
  }

  data(): HistoryData {
    this.#prune(Math.floor(this.#now() / HOUR_MS) * HOUR_MS);
    return { hours: this.#hours.map((h) => ({ ...h })), totals: { ...this.#totals }, blocks: this.#blocks.list() };
  }

  #bucket(): Mutable<HourBucket> {
    const hour = Math.floor(this.#now() / HOUR_MS) * HOUR_MS;
    const last = this.#hours.at(-1);
    if (last !== undefined && last.hour === hour) return last;
    // A clock set back (no RTC, then NTP) lands in an hour already kept: count there, never out of order.
    if (last !== undefined && last.hour > hour) return this.#hours.find((h) => h.hour === hour) ?? last;
    const b = empty(hour);
    this.#hours.push(b);
    this.#prune(hour);
    return b;
  }

  /** Keeps the hours of the last 7 days, at most MAX_HOURS buckets. */
  #prune(hour: number): void {
    const oldest = hour - (MAX_HOURS - 1) * HOUR_MS;
    let drop = 0;
    while (drop < this.#hours.length && this.#hours[drop]!.hour < oldest) drop++;
    drop = Math.max(drop, this.#hours.length - MAX_HOURS);
    if (drop > 0) this.#hours.splice(0, drop);
  }
}
