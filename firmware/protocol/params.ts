// Network parameters (docs/lottery.md: every threshold, interval and deadline is a network
// parameter, not a constant in code). They reach a node inside the root-signed network manifest
// (network-manifest.ts); a config may pin them only for an unprovisioned devnet.
import { integer, object, oneOf, optional, refine } from '../core/json.ts';
import { messageSchema, type ProtocolSchema } from './message-schema.ts';
import { DEFAULT_CHAIN_PARAMS, type ChainParams } from './chain/validate.ts';

export interface NetworkParams {
  /** Monotonic: a node ignores parameters older than the ones it has. */
  readonly version: number;
  /** m for seals: the ticket needs at least this many leading zero bits. */
  readonly sealZeros: number;
  /** m for the clerk draw. */
  readonly clerkZeros: number;
  /** Round r may be attempted once r x spinIntervalMs has passed since the candidate arrived. */
  readonly spinIntervalMs: number;
  readonly maxRounds: number;
  /** A node stops spinning this long after the candidate arrived; seals expire then. */
  readonly sealDeadlineMs: number;
  /** Candidate timestamps may differ from the node's clock by at most this much. */
  readonly timestampWindowMs: number;
  readonly maxBlockTxs: number;
  readonly maxBlockBytes: number;
  /** How a primary delivers candidates; absent means 'full' (networks from before the choice). */
  readonly candidateDelivery?: CandidateDelivery;
}

/**
 * 'full': every node gets the whole candidate. 'header-first': every node gets the header and
 * fetches the body only when its ticket qualifies (docs/protocol.md, "Header-first delivery").
 */
export type CandidateDelivery = 'full' | 'header-first';
export const CANDIDATE_DELIVERIES: readonly CandidateDelivery[] = ['full', 'header-first'];

/** The delivery the parameters name ('full' when they name none). */
export function candidateDeliveryOf(p: Pick<NetworkParams, 'candidateDelivery'>): CandidateDelivery {
  return p.candidateDelivery ?? 'full';
}

export const DEFAULT_PARAMS: NetworkParams = {
  version: 1,
  sealZeros: 4,
  clerkZeros: 2,
  spinIntervalMs: 200,
  maxRounds: 64,
  sealDeadlineMs: 20_000,
  timestampWindowMs: 30_000,
  maxBlockTxs: 10_000,
  maxBlockBytes: 8 * 1024 * 1024,
};

export const MAX_PARAMS_BYTES = 4096;
/** Network parameters: from bytes (parse) or from the value the transport parsed under its cap (read). */
/** The parameters' fields and their bounds (a signed network manifest carries them, its version aside). */
export const PARAM_FIELDS = {
  sealZeros: integer({ min: 0, max: 256 }),
  clerkZeros: integer({ min: 0, max: 256 }),
  spinIntervalMs: integer({ min: 1, max: 3_600_000 }),
  maxRounds: integer({ min: 1, max: 1_000_000 }),
  sealDeadlineMs: integer({ min: 1, max: 86_400_000 }),
  timestampWindowMs: integer({ min: 0, max: 86_400_000 }),
  maxBlockTxs: integer({ min: 1, max: 1_000_000 }),
  maxBlockBytes: integer({ min: 1024, max: 256 * 1024 * 1024 }),
  candidateDelivery: optional(oneOf(CANDIDATE_DELIVERIES)),
} as const;

/** Network parameters as a config pins them (an unprovisioned devnet): from bytes (parse) or a parsed value (read). */
export const paramsMessage: ProtocolSchema<NetworkParams> = messageSchema('params', MAX_PARAMS_BYTES, refine(object({
  version: integer({ min: 1, max: 2 ** 31 }),
  ...PARAM_FIELDS,
}), (p) => (p.sealDeadlineMs < p.spinIntervalMs ? 'sealDeadlineMs must be at least one spinIntervalMs' : undefined)));

/** ChainParams for validating candidates, from the network parameters. */
export function chainParams(p: NetworkParams): ChainParams {
  return {
    ...DEFAULT_CHAIN_PARAMS,
    clerkZeros: p.clerkZeros,
    maxFutureMs: p.timestampWindowMs,
    maxPastMs: p.timestampWindowMs,
    caps: { maxTxs: p.maxBlockTxs, maxBlockBytes: p.maxBlockBytes },
  };
}
