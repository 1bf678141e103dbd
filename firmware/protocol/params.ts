// Network parameters (docs/lottery.md: every threshold, interval and deadline is a network
// parameter, not a constant in code). Published retained on <prefix>/params.
import { ProtocolError } from './errors.ts';
import { integer, object, onlyKeys, parseJson } from './fields.ts';

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
const PARAMS_KEYS: ReadonlySet<string> = new Set(Object.keys(DEFAULT_PARAMS));

export function parseParams(payload: Uint8Array | string): NetworkParams {
  return readParams(parseJson(payload, MAX_PARAMS_BYTES, 'params message'));
}

/** Parameters from a JSON value the transport already parsed (under its size cap). */
export function readParams(value: unknown): NetworkParams {
  const o = object(value, 'params');
  onlyKeys(o, PARAMS_KEYS, 'params.');
  const p: NetworkParams = {
    version: integer(o, 'version', 1, 2 ** 31, 'params.'),
    sealZeros: integer(o, 'sealZeros', 0, 256, 'params.'),
    clerkZeros: integer(o, 'clerkZeros', 0, 256, 'params.'),
    spinIntervalMs: integer(o, 'spinIntervalMs', 1, 3_600_000, 'params.'),
    maxRounds: integer(o, 'maxRounds', 1, 1_000_000, 'params.'),
    sealDeadlineMs: integer(o, 'sealDeadlineMs', 1, 86_400_000, 'params.'),
    timestampWindowMs: integer(o, 'timestampWindowMs', 0, 86_400_000, 'params.'),
    maxBlockTxs: integer(o, 'maxBlockTxs', 1, 1_000_000, 'params.'),
    maxBlockBytes: integer(o, 'maxBlockBytes', 1024, 256 * 1024 * 1024, 'params.'),
  };
  if (p.sealDeadlineMs < p.spinIntervalMs) {
    throw new ProtocolError('ERR_PROTOCOL_PARAMS', 'params.sealDeadlineMs must be at least one spinIntervalMs', 'sealDeadlineMs');
  }
  return p;
}
