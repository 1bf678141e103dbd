// The factory station: enroll TPMs into a batch manifest (provisioning/README.md).
export { enrollDevice, checkSerialBoard, type EnrollOptions, type EnrollResult, type FactoryTpm } from './enroll.ts';
export { enrollMany, parseEnrollList, readEnrollList, type EnrollManyOptions, type ListEntry, type ManyResult } from './enroll-many.ts';
export { appendBatchEntry, entryText, type AppendResult, type BatchEntry } from './batch-file.ts';
export { acquireBatchLock, DEFAULT_LOCK_TIMEOUT_MS, type BatchLock, type LockOptions } from './batch-lock.ts';
export { createProgress, type Progress, type ProgressStream } from './progress.ts';
export { FactoryError, type FactoryErrorCode } from './errors.ts';
