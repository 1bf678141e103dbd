// The only path to a lottery signature. The sealing key signs `blockHash || uint32be(round)`
// through this object alone, and only for a block the seal journal has durably recorded a
// decision for at that (height, clerk): "never two conflicting seals" holds by construction, not
// by the order in which callers happen to call things. The agent and the engine get a SealSigner,
// never the TPM's sign; createNode builds it from the node's journal and its TPM sealing key.
import { lotteryMessage } from '../protocol/chain/lottery.ts';
import { SealingError } from './errors.ts';
import type { SealIntent, SealJournal } from './journal.ts';

/** The private half: RSASSA-PKCS1-v1_5-SHA256 over a message (the TPM's sealing key in a node). */
export interface SealingKey {
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export class SealSigner {
  readonly #journal: Pick<SealJournal, 'holds'>;
  readonly #key: SealingKey;

  constructor(journal: Pick<SealJournal, 'holds'>, key: SealingKey) {
    this.#journal = journal;
    this.#key = key;
  }

  /** The lottery signature of `round` for the recorded decision `intent`; refuses anything the journal does not hold. */
  async sign(intent: SealIntent, round: number): Promise<Uint8Array> {
    if (!this.#journal.holds(intent)) {
      throw new SealingError('ERR_SEAL_UNRECORDED', `no recorded decision for this block at height ${intent.height}, clerk ${String(intent.clerk).slice(0, 16)}…: the journal must record it before the sealing key signs`, { height: intent.height, clerk: intent.clerk });
    }
    return this.#key.sign(lotteryMessage(intent.blockHash, round));
  }
}
