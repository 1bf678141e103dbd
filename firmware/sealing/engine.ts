// Spinning (docs/lottery.md): sign lotteryMessage(blockHash, r) for r = 0, 1, ... until a ticket has
// sealZeros leading zero bits. Round r starts no earlier than receivedAt + r x spinIntervalMs, so
// a fast TPM buys no extra rounds. Stops when qualified, when a seal of better priority for the
// same block is seen, when the block is superseded or final (signal), at the deadline, or after
// maxRounds. Check and record before signing (docs/seal-journal.md): the gate before every signature, the
// journal before the first; the seal is recorded before it is returned for publishing.
import pino from 'pino';
import type { Logger } from 'pino';
import { comparePriority, scoreTicket, type TicketScore } from '../protocol/chain/lottery.ts';
import type { NetworkParams } from '../protocol/params.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { SealingError } from './errors.ts';
import type { SealGate } from './gate.ts';
import type { SealJournal } from './journal.ts';
import type { SealSigner } from './seal-signer.ts';

export type SpinParams = Pick<NetworkParams, 'sealZeros' | 'spinIntervalMs' | 'maxRounds' | 'sealDeadlineMs'>;

export interface SpinJob {
  readonly height: number;
  /** Fingerprint of the candidate's clerk. */
  readonly clerk: string;
  readonly blockHash: Uint8Array;
  /** Clock time at which the candidate arrived: round pacing and the deadline count from here. */
  readonly receivedAt: number;
  readonly params: SpinParams;
  /** Aborted when the block is superseded or final. */
  readonly signal?: AbortSignal;
  /** Best seal by another node seen so far for this same block. */
  readonly bestSeen?: () => TicketScore | undefined;
  /** Told of every ticket signed: its round, zero bits and how long the TPM took (the node's history). */
  readonly onRound?: (round: number, zeros: number, signMs: number) => void;
  /**
   * Header-first delivery: the block was spun on from its header alone. Asked once, when a ticket
   * qualifies and before the seal is recorded; anything but ok and nothing is sealed.
   */
  readonly testBlock?: () => Promise<BlockTest>;
}

/** The full test of a block spun on from its header: ok, or a specific reason it was not tested. */
export type BlockTest = { readonly ok: true } | { readonly ok: false; readonly code: string; readonly message: string };

export type SpinOutcome =
  | { readonly outcome: 'sealed'; readonly round: number; readonly signature: Uint8Array; readonly zeros: number; readonly ticket: Uint8Array; readonly reused: boolean; readonly rounds: number }
  | { readonly outcome: 'refused'; readonly reason: 'conflicting-block' | 'finalized' | 'lost-records'; readonly message: string }
  /** Header-first: the ticket qualified, but the block did not pass its full test (code says why); nothing sealed. */
  | { readonly outcome: 'refused'; readonly reason: 'untested'; readonly code: string; readonly message: string }
  | { readonly outcome: 'inactive'; readonly state: 'not-activated' | 'revoked'; readonly reason: string; readonly rounds: number }
  | { readonly outcome: 'better-seal'; readonly best: TicketScore; readonly rounds: number }
  | { readonly outcome: 'aborted'; readonly reason: string; readonly rounds: number }
  | { readonly outcome: 'deadline'; readonly rounds: number }
  | { readonly outcome: 'max-rounds'; readonly rounds: number }
  | { readonly outcome: 'failed'; readonly code: string; readonly message: string; readonly rounds: number };

export type SpinOutcomeKind = SpinOutcome['outcome'];

export interface SealEngineOptions {
  readonly journal: Pick<SealJournal, 'checkAndRecord' | 'recordSeal'>;
  readonly gate: SealGate;
  /** Signs only decisions the journal recorded (the only path to a lottery signature). */
  readonly signer: SealSigner;
  readonly clock?: Pick<Clock, 'now' | 'sleep'>;
  readonly logger?: Logger;
}

export interface SealEngine {
  spin(job: SpinJob): Promise<SpinOutcome>;
}

export function createSealEngine(options: SealEngineOptions): SealEngine {
  const { journal, gate, signer } = options;
  const clock = options.clock ?? systemClock;
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'seal-engine' });

  async function spin(job: SpinJob): Promise<SpinOutcome> {
    const { height, clerk, blockHash, receivedAt, params, signal } = job;
    checkParams(params);
    const deadline = receivedAt + params.sealDeadlineMs;
    let rounds = 0;
    const inactive = (): SpinOutcome | null => {
      const g = gate.current();
      return g.state === 'active' ? null : { outcome: 'inactive', state: g.state, reason: g.reason, rounds };
    };
    const aborted = (): SpinOutcome => ({ outcome: 'aborted', reason: String(signal?.reason ?? 'aborted'), rounds });
    const failed = (err: unknown, what: string): SpinOutcome => {
      const e = err as { code?: unknown; message?: unknown };
      // A journal that is down was reported once when it went down; each refused spin is routine.
      const level = e?.code === 'ERR_JOURNAL_UNAVAILABLE' ? 'debug' : 'error';
      log[level]({ height, err: String(e?.message ?? err), what }, 'spin failed');
      return { outcome: 'failed', code: typeof e?.code === 'string' ? e.code : 'ERR_SEALING_SIGNER', message: `${what}: ${String(e?.message ?? err)}`, rounds };
    };

    const first = inactive();
    if (first !== null) return first;
    if (signal?.aborted) return aborted();
    let check;
    try {
      check = await journal.checkAndRecord({ height, clerk, blockHash });
    } catch (err) {
      return failed(err, 'seal journal');
    }
    if (!check.ok) return { outcome: 'refused', reason: check.reason, message: check.message };
    if (check.seal !== undefined) {
      const s = scoreTicket(check.seal.signature, check.seal.round);
      return { outcome: 'sealed', round: s.round, signature: check.seal.signature, zeros: s.zeros, ticket: s.ticket, reused: true, rounds };
    }

    for (let r = 0; r < params.maxRounds; r++) {
      const slot = receivedAt + r * params.spinIntervalMs;
      if (slot >= deadline) return { outcome: 'deadline', rounds };
      for (let now = clock.now(); now < slot && !signal?.aborted; now = clock.now()) await clock.sleep(slot - now, signal);
      if (signal?.aborted) return aborted();
      if (clock.now() >= deadline) return { outcome: 'deadline', rounds };
      const best = job.bestSeen?.();
      // A seal from a lower round has priority whatever our ticket would be (docs/lottery.md).
      if (best !== undefined && best.round < r) return { outcome: 'better-seal', best, rounds };
      const stop = inactive();
      if (stop !== null) return stop;
      if (signal?.aborted) return aborted();
      let signature: Uint8Array;
      const signingSince = clock.now();
      try {
        signature = await signer.sign(check.decision, r);
      } catch (err) {
        return failed(err, 'signer');
      }
      rounds++;
      const score = scoreTicket(signature, r);
      job.onRound?.(r, score.zeros, clock.now() - signingSince);
      if (signal?.aborted) return aborted();
      log.debug({ height, round: r, zeros: score.zeros }, 'spin round');
      if (score.zeros < params.sealZeros) continue;
      const rival = job.bestSeen?.();
      if (rival !== undefined && comparePriority(rival, score) < 0) return { outcome: 'better-seal', best: rival, rounds };
      if (job.testBlock !== undefined) {
        // Never a seal for a block not tested in full: the body is fetched and tested now.
        const tested = await job.testBlock();
        if (signal?.aborted) return aborted();
        if (!tested.ok) return { outcome: 'refused', reason: 'untested', code: tested.code, message: tested.message };
        const later = job.bestSeen?.();
        if (later !== undefined && comparePriority(later, score) < 0) return { outcome: 'better-seal', best: later, rounds };
      }
      if (clock.now() >= deadline) return { outcome: 'deadline', rounds };
      try {
        await journal.recordSeal({ height, clerk, blockHash, round: r, signature });
      } catch (err) {
        // A re-drawn block took the slot meanwhile: this signature is dropped, never published.
        if ((err as { code?: unknown }).code === 'ERR_JOURNAL_SUPERSEDED') return { outcome: 'aborted', reason: 'superseded at this slot by a re-drawn block', rounds };
        return failed(err, 'seal journal');
      }
      return { outcome: 'sealed', round: r, signature, zeros: score.zeros, ticket: score.ticket, reused: false, rounds };
    }
    return { outcome: 'max-rounds', rounds };
  }

  return { spin };
}

function checkParams(p: SpinParams): void {
  const ok = Number.isInteger(p?.sealZeros) && p.sealZeros >= 0 && p.sealZeros <= 256
    && Number.isInteger(p.spinIntervalMs) && p.spinIntervalMs >= 1
    && Number.isInteger(p.maxRounds) && p.maxRounds >= 1
    && Number.isInteger(p.sealDeadlineMs) && p.sealDeadlineMs >= 1;
  if (!ok) throw new SealingError('ERR_SEALING_PARAMS', 'spin params need integer sealZeros (0..256), spinIntervalMs, maxRounds and sealDeadlineMs (>= 1)', { field: 'params' });
}
