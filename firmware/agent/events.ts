// What the agent tells its listeners (the node's history, the devnet, tests): seals, spins,
// other nodes' seals and refused candidates. The agent emits them; it does not depend on who listens.
import type { SpinOutcome } from '../sealing/engine.ts';
import type { SealMessage } from '../protocol/seal-message.ts';

export interface SealEvent {
  readonly seal: SealMessage;
  readonly zeros: number;
  readonly reused: boolean;
}

/** A candidate taken up and spun for: the outcome, and what this node's tickets reached (the household's "why didn't I seal?"). */
export interface SpinEvent {
  readonly height: number;
  readonly hash: string;
  readonly outcome: SpinOutcome;
  /** Most leading zero bits among the tickets signed; null when none was. */
  readonly bestZeros: number | null;
  readonly zerosNeeded: number;
  /** Time the TPM took for the signatures, ms in all. */
  readonly signMs: number;
}

/** Another node's qualifying seal for a block this node knows. */
export interface RivalSealEvent {
  readonly hash: string;
  readonly nodeId: string;
  readonly round: number;
}

export interface RejectedEvent {
  readonly height?: number;
  readonly code: string;
  readonly message: string;
}

/** The log fields of a spin's outcome. */
export function spinSummary(o: SpinOutcome): Record<string, unknown> {
  switch (o.outcome) {
    case 'sealed': return { outcome: o.outcome, round: o.round, zeros: o.zeros, reused: o.reused };
    case 'refused': return { outcome: o.outcome, reason: o.reason };
    case 'inactive': return { outcome: o.outcome, state: o.state, reason: o.reason };
    case 'better-seal': return { outcome: o.outcome, rounds: o.rounds, bestRound: o.best.round };
    case 'failed': return { outcome: o.outcome, code: o.code, message: o.message };
    default: return { outcome: o.outcome, rounds: o.rounds };
  }
}
