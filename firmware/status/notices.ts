// Notices a household keeps switched on: a problem is announced only once it has lasted (a
// setting, 10 minutes by default), at most once an hour for the same problem, with what the
// household needs to judge it (TPM, broker, disk, clock, last final block), and a "back to
// normal" notice when an announced problem clears. Problems come from the node's status (its
// faults, the broker connection, a revocation) and from the clock: the node's clock is compared
// with the timestamps of the final blocks the committee signed, the one time source it trusts.
import type { NodeStatus } from './node-status.ts';

export interface NoticeContext {
  readonly tpm: string;
  readonly broker: string;
  readonly disk: string;
  readonly clock: string;
  readonly lastFinal: string;
}

export interface Notice {
  readonly kind: 'problem' | 'back-to-normal';
  /** Which problem: fault:<key>, broker, activation or clock. */
  readonly key: string;
  readonly text: string;
  readonly at: number;
  readonly context: NoticeContext;
}

export interface NoticeSettings {
  /** A problem is announced once it has lasted this long (ms; default 10 min). */
  readonly afterMs?: number;
  /** Least time between two announcements of the same problem (ms; default 1 h). */
  readonly quietMs?: number;
}

export const DEFAULT_NOTICE_AFTER_MS = 10 * 60_000;
export const NOTICE_QUIET_MS = 60 * 60_000;
/** The node's clock is wrong when final blocks' timestamps are this far from it (median of the last few). */
export const CLOCK_OFF_MS = 60_000;
const CLOCK_SAMPLES = 7;
const MAX_RECENT = 20;
const MAX_TEXT = 300;

/** How far the node's clock is from the committee's: receipt time minus the final block's timestamp, median of the last few. */
export class ClockWatch {
  readonly #offsets: number[] = [];
  #last: { height: number; timestamp: number; at: number } | null = null;

  /** A final block the node took (its quorum verified): its header timestamp (ms) and when it arrived. */
  record(height: number, timestampMs: number, receivedAt: number): void {
    if (!Number.isFinite(timestampMs) || !Number.isFinite(receivedAt)) return;
    this.#offsets.push(receivedAt - timestampMs);
    if (this.#offsets.length > CLOCK_SAMPLES) this.#offsets.shift();
    this.#last = { height, timestamp: timestampMs, at: receivedAt };
  }

  /** ms the node's clock is ahead (+) or behind (-) the final blocks' timestamps; null before any. */
  offsetMs(): number | null {
    if (this.#offsets.length === 0) return null;
    const sorted = [...this.#offsets].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }

  lastFinal(): { readonly height: number; readonly at: number } | null {
    return this.#last === null ? null : { height: this.#last.height, at: this.#last.at };
  }

  /** A problem text when the clock is off by more than CLOCK_OFF_MS, else null. */
  problem(): string | null {
    const off = this.offsetMs();
    if (off === null || Math.abs(off) <= CLOCK_OFF_MS) return null;
    return `the clock is ${Math.round(Math.abs(off) / 1000)} s ${off > 0 ? 'ahead of' : 'behind'} the network's final blocks: check the time setting (NTP); seals with a wrong time are refused`;
  }
}

/** The problems the status shows now, by key. */
export function problemsOf(s: NodeStatus, clock: ClockWatch): Map<string, string> {
  const p = new Map<string, string>();
  for (const f of s.faults ?? []) p.set(`fault:${f.key}`, `${f.key}: ${f.message}`);
  if (!s.broker.connected) p.set('broker', `not connected to the broker (${s.broker.failure ?? s.broker.refusal ?? s.broker.state})`);
  if (s.activation.state === 'revoked') p.set('activation', `revoked by the root node${s.activation.reason ? `: ${s.activation.reason}` : ''}`);
  const c = clock.problem();
  if (c !== null) p.set('clock', c);
  return p;
}

export function contextOf(s: NodeStatus, clock: ClockWatch, now: number): NoticeContext {
  const off = clock.offsetMs();
  const last = clock.lastFinal();
  const diskFaults = (s.faults ?? []).filter((f) => /journal|status file|disk/i.test(f.key));
  return {
    tpm: s.tpm === null ? 'not found' : `${s.tpm.manufacturer}, firmware ${s.tpm.firmwareVersion}`,
    broker: s.broker.connected ? `connected${s.broker.user ? ` as ${s.broker.user}` : ''}` : `not connected (${s.broker.state})`,
    disk: diskFaults.length === 0 ? 'ok' : diskFaults.map((f) => f.message).join('; ').slice(0, MAX_TEXT),
    clock: off === null ? 'not compared yet (no final block)' : `${off >= 0 ? '+' : ''}${(off / 1000).toFixed(1)} s against the final blocks`,
    lastFinal: last === null ? 'none since start' : `#${last.height}, ${Math.round((now - last.at) / 60_000)} min ago`,
  };
}

/** Announces problems that last, at most once an hour each, and their return to normal. */
export class NoticeBoard {
  readonly #afterMs: number;
  readonly #quietMs: number;
  readonly #open = new Map<string, { since: number; text: string; announced: boolean }>();
  readonly #lastAnnounced = new Map<string, number>();
  readonly #recent: Notice[] = [];

  constructor(settings: NoticeSettings = {}) {
    this.#afterMs = settings.afterMs ?? DEFAULT_NOTICE_AFTER_MS;
    this.#quietMs = settings.quietMs ?? NOTICE_QUIET_MS;
  }

  /** The problems now; returns the notices this look gives (usually none). */
  observe(problems: ReadonlyMap<string, string>, context: NoticeContext, now: number): Notice[] {
    const out: Notice[] = [];
    for (const [key, text] of problems) {
      const entry = this.#open.get(key) ?? { since: now, text, announced: false };
      entry.text = text.slice(0, MAX_TEXT);
      this.#open.set(key, entry);
      const last = this.#lastAnnounced.get(key);
      if (!entry.announced && now - entry.since >= this.#afterMs && (last === undefined || now - last >= this.#quietMs)) {
        entry.announced = true;
        this.#lastAnnounced.set(key, now);
        const minutes = Math.round((now - entry.since) / 60_000);
        out.push({ kind: 'problem', key, text: `${entry.text} (for ${minutes} min)`, at: now, context });
      }
    }
    for (const [key, entry] of this.#open) {
      if (problems.has(key)) continue;
      this.#open.delete(key);
      if (entry.announced) out.push({ kind: 'back-to-normal', key, text: `back to normal: ${entry.text}`, at: now, context });
    }
    this.#recent.push(...out);
    this.#recent.splice(0, Math.max(0, this.#recent.length - MAX_RECENT));
    return out;
  }

  /** The latest notices, newest last. */
  recent(): readonly Notice[] {
    return [...this.#recent];
  }

  /** True while an announced problem lasts. */
  problemNow(): boolean {
    for (const e of this.#open.values()) if (e.announced) return true;
    return false;
  }
}
