// The core layer: small building blocks every other layer uses, importing nothing of ours.
export {
  anyObject, array, boolean, hex, hexText, integer, invalid, JsonError, literal, map, nullable, object, oneOf, optional, parseJson, refine, string,
  type Infer, type JsonErrorCode, type MessageSchema, type ObjectOf, type ObjectReader, type OptionalReader, type Reader,
} from './json.ts';
export { CodedError } from './errors.ts';
export { bytesEqual, concatBytes, fromHex, leadingZeroBits, toHex } from './bytes.ts';
export { systemClock, type Clock } from './clock.ts';
export { ManualClock, type ManualClockOptions } from './manual-clock.ts';
export { Backoff, backoffCeiling, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
export { syncDir, writeFileAtomic, type AtomicWriteOptions } from './atomic-write.ts';
export { parse, printJson, required, UsageError } from './cli-args.ts';
export { dispatch, reportError, type CommandEntry } from './cli-dispatch.ts';
export { bootId, processAlive } from './process.ts';
export { listenFd } from './listen-fds.ts';
export { acquireProcessLock, describeHolder, ProcessLockError, queryProcessLock, readLockHolder, type LockHolder, type LockState, type ProcessLock, type ProcessLockOptions } from './process-lock.ts';
export { escapeLabel, family, labelText, METRICS_CONTENT_TYPE, type Labels } from './prometheus.ts';
export { WorkerPool, type WorkerPoolOptions } from './worker-pool.ts';
