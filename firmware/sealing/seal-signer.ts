// The only path to a lottery signature. The sealing key signs `blockHash || uint32be(round)`
// through this object alone, and only for a decision the seal journal recorded durably at that
// (height, clerk) and still holds above its watermark: "never two conflicting seals" holds by
// construction, not by the order in which callers happen to call things (Lodestar's validator
// store: the public sign awaits the protection check, the signing itself is private).
//
// Three locks, each closing a way around the journal:
// - sign() takes a RecordedDecision, which only the journal's checkAndRecord makes (a branded
//   type, and a runtime mark that a cast does not carry); a bare SealIntent does not type-check.
// - The TPM hands out its lottery key to one holder at a time (Tpm.lotteryKey); this constructor
//   takes it and close() gives it back, so while the node runs nothing else in the process can
//   sign a lottery message with the sealing key; the binding's general sign() refuses
//   lottery-shaped (36-byte) messages.
// - The ticket math (SHA-256 of the signature, leading zero bits) is the protocol's
//   (protocol/chain/lottery.ts scoreTicket), not the binding's: the binding has no ticket().
import pino from 'pino';
import type { Logger } from 'pino';
import { lotteryMessage } from '../protocol/chain/lottery.ts';
import type { LotteryKey, Tpm } from '../../tpm/index.ts';
import { SealingError } from './errors.ts';
import { isRecordedDecision, type RecordedDecision, type SealJournal } from './journal.ts';

/** Where the lottery key comes from: the node's opened TPM (or, in tests, a software key with the same shape). */
export type LotteryKeySource = Pick<Tpm, 'lotteryKey'>;

export class SealSigner {
  readonly #journal: Pick<SealJournal, 'holds'>;
  readonly #key: LotteryKey;
  readonly #log: Logger;

  /** Takes the TPM's lottery key for `handle` (the sealing key's) until close(); fails if another holder has it. */
  constructor(journal: Pick<SealJournal, 'holds'>, tpm: LotteryKeySource, handle?: number, logger?: Logger) {
    this.#journal = journal;
    this.#key = tpm.lotteryKey(handle === undefined ? {} : { handle });
    this.#log = (logger ?? pino({ level: 'silent' })).child({ component: 'seal-signer' });
  }

  /** The lottery signature of `round` for `decision`; refuses one this journal does not hold (ERR_SEAL_UNRECORDED) before the key is used. */
  async sign(decision: RecordedDecision, round: number): Promise<Uint8Array> {
    // Checked and the message built in one synchronous step: nothing can change between them.
    const issued = isRecordedDecision(decision);
    if (!issued || !this.#journal.holds(decision)) {
      const height = (decision as { height?: unknown } | null)?.height;
      const clerk = String((decision as { clerk?: unknown } | null)?.clerk).slice(0, 16);
      const why = issued ? 'the journal does not hold this decision (another block, finalized since, or the journal is unavailable)' : 'not a decision the journal recorded';
      const err = new SealingError('ERR_SEAL_UNRECORDED', `refusing to sign at height ${String(height)}, clerk ${clerk}…: ${why}; the journal must record a decision before the sealing key signs`, { height, clerk, issued });
      this.#log.warn(err.toObject(), 'seal signature refused');
      throw err;
    }
    return this.#sign(lotteryMessage(decision.blockHash, round));
  }

  /** Gives the lottery key back to the TPM (when the node stops); this signer signs no more. Idempotent. */
  close(): void {
    this.#key.release();
  }

  #sign(message: Uint8Array): Promise<Uint8Array> {
    return this.#key.sign(message);
  }
}
