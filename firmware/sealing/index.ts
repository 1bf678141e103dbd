// Public API of sealing: the seal journal (docs/seal-journal.md), the seal signer (the only path to a lottery signature), the activation gate, the spinning engine (docs/lottery.md).
export { SealingError, type SealingErrorCode } from './errors.ts';
export {
  openSealJournal, MAX_JOURNAL_BYTES,
  type SealJournal, type SealJournalOptions, type SealIntent, type RecordedDecision, isRecordedDecision, type RecordedSeal, type CheckResult, type ImportOptions, type ImportResult, type JournalEntry, type JournalExport,
} from './journal.ts';
export { RecoveringJournal, type JournalHealth, type RecoveringJournalOptions } from './journal-recovery.ts';
export { describeFsError, errnoOf, isStorageFault } from './fs-errors.ts';
export { parseInterchange, MAX_INTERCHANGE_BYTES, MAX_INTERCHANGE_ENTRIES } from './journal-interchange.ts';
export { alwaysActive, neverActive, type SealGate, type GateState } from './gate.ts';
export { createSealEngine, type BlockTest, type SealEngine, type SealEngineOptions, type SpinJob, type SpinOutcome, type SpinOutcomeKind, type SpinParams } from './engine.ts';
export { systemClock, type Clock } from '../core/clock.ts';
export { SealSigner, type LotteryKeySource } from './seal-signer.ts';
