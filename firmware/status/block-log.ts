// "Why didn't I seal?": what this node did with each recent candidate, in plain words. The agent
// decides (validation, the spinning engine, seals seen from other nodes, final blocks); this only
// keeps the last few answers, bounded, and says them in words a household reads.
import type { SpinOutcomeKind } from '../sealing/engine.ts';

/** How many recent blocks are kept (in memory and in the history file). */
export const MAX_RECENT_BLOCKS = 50;
const MAX_REASON_CHARS = 300;
const MAX_NODE_ID_CHARS = 128;

export type BlockVerdict = 'sealed' | 'not-sealed' | 'refused';

export interface BlockRecord {
  /** null when the candidate could not be read far enough to know its height. */
  readonly height: number | null;
  /** Hex block hash; '' when the candidate was refused before it was hashed. */
  readonly hash: string;
  /** When the node finished with it, ms since epoch. */
  readonly at: number;
  readonly verdict: BlockVerdict;
  /** The spin's outcome, or the refusal's code. */
  readonly code: string;
  /** Why, in plain words. */
  readonly reason: string;
  readonly rounds: number;
  /** Most leading zero bits among this node's tickets; null when it signed none. */
  readonly bestZeros: number | null;
  readonly zerosNeeded: number | null;
  /** Who sealed the block, when known (a rival seal seen, or the final block's first sealer). */
  readonly sealedBy: { readonly nodeId: string; readonly round: number | null } | null;
}

/** What the engine's outcome means for the household. `rounds` tried, `needed` zero bits. */
export function outcomeWords(o: { readonly outcome: SpinOutcomeKind; readonly rounds: number; readonly reason?: string; readonly message?: string; readonly round?: number }, needed: number): string {
  const tries = `${o.rounds} round${o.rounds === 1 ? '' : 's'}`;
  switch (o.outcome) {
    case 'sealed': return `sealed in round ${o.round ?? 0}`;
    case 'better-seal': return `another node's ticket came first (after ${tries})`;
    case 'deadline': return `time ran out after ${tries}: no ticket reached ${needed} zero bits`;
    case 'max-rounds': return `tried the most rounds allowed (${tries}): no ticket reached ${needed} zero bits`;
    case 'aborted': return abortedWords(o.reason ?? '');
    case 'inactive': return `not sealing: ${o.reason ?? 'this device is not activated'}`;
    case 'refused': return `refused by the seal journal: ${o.message ?? o.reason ?? ''}`;
    case 'failed': return `the TPM or the seal journal failed: ${o.message ?? ''}`;
  }
}

function abortedWords(reason: string): string {
  if (reason === 'final') return 'the network finalized the block before a ticket qualified';
  if (reason === 'superseded') return 'the chain moved on to a newer block';
  if (reason.startsWith('re-drawn') || reason.startsWith('superseded at this slot')) return 'the clerk drew a new block for this height';
  if (reason === 'agent stopping') return 'the node was stopping';
  return `stopped: ${reason}`;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The last MAX_RECENT_BLOCKS blocks, newest last; a block seen again (a final, a rival seal) is updated in place. */
export class RecentBlocks {
  readonly #blocks: Mutable<BlockRecord>[];

  constructor(initial: readonly BlockRecord[] = []) {
    this.#blocks = initial.slice(-MAX_RECENT_BLOCKS).map((b) => ({ ...b }));
  }

  add(b: BlockRecord): void {
    this.#blocks.push({ ...b, reason: b.reason.slice(0, MAX_REASON_CHARS) });
    if (this.#blocks.length > MAX_RECENT_BLOCKS) this.#blocks.shift();
  }

  /** Another node's seal for a block of ours: the best one seen (lowest round first) is who sealed it. */
  sealSeen(hash: string, nodeId: string, round: number): void {
    const b = this.#find(hash);
    if (b === undefined || b.verdict === 'sealed') return;
    if (b.sealedBy === null || (b.sealedBy.round !== null && round < b.sealedBy.round)) b.sealedBy = { nodeId: nodeId.slice(0, MAX_NODE_ID_CHARS), round };
  }

  /** The final block names its sealers, best first: the first one sealed it. */
  final(hash: string, sealedBy: readonly string[]): void {
    const first = sealedBy[0];
    const b = this.#find(hash);
    if (b === undefined || first === undefined) return;
    if (b.sealedBy?.nodeId !== first) b.sealedBy = { nodeId: first.slice(0, MAX_NODE_ID_CHARS), round: null };
  }

  list(): BlockRecord[] {
    return this.#blocks.map((b) => ({ ...b }));
  }

  #find(hash: string): Mutable<BlockRecord> | undefined {
    if (hash === '') return undefined;
    for (let i = this.#blocks.length - 1; i >= 0; i--) if (this.#blocks[i]!.hash === hash) return this.#blocks[i];
    return undefined;
  }
}
