// Start-up that waits instead of crash-looping: a TPM that is
// not there yet (HAT not detected, swtpm not started), a state directory that is read-only or
// full. A failure is said once (FaultBoard: at error when it appears or changes, at debug on
// each further attempt) and written to status.json, so `btn-node status` and the status page
// say what is wrong; the agent retries with capped, jittered backoff until it works or is told
// to stop. Faults that no retry can fix (bad configuration, a corrupt journal) are not retried:
// the caller exits with them.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Logger } from 'pino';
import { systemClock } from '../core/clock.ts';
import { Backoff } from '../core/backoff.ts';
import { FaultBoard, type Fault } from './faults.ts';
import { writeStatusReported } from './status.ts';
import type { NodeStatus } from '../status/index.ts';
import { TpmError } from '../../tpm/index.ts';

export interface StartupProblem {
  readonly code: string;
  readonly message: string;
}

export interface WaitOptions {
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Where status.json goes while waiting (the agent's stateDir). */
  readonly stateDir: string;
  readonly nodeId: string;
  readonly backoff?: Backoff;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  /** Sees each waiting status as it is written (the status page shows it). */
  readonly onStatus?: (status: NodeStatus) => void;
  /** Where the fault is kept and said once; a private one when absent. */
  readonly faults?: FaultBoard;
}

const LAST_ERRORS = 10;

/** True for faults that can go away by themselves: the TPM or the disk, not the configuration. */
export function isTransientStartupError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  if (code === 'ERR_TPM_UNREACHABLE' || code === 'ERR_TPM_RC' || code === 'ERR_TPM_CLOSED') return true;
  // Journal: cannot create, lock or write (read-only mount, full disk). Another process holding
  // it (ERR_JOURNAL_LOCKED) is not waited for: two agents on one journal is a mistake to say at once.
  return code === 'ERR_JOURNAL_IO' || code === 'ERR_JOURNAL_FAILED';
}

/**
 * Runs `attempt` until it succeeds; transient failures wait with backoff, others throw.
 * Resolves to null when `signal` aborts while waiting.
 */
export async function retryUntilReady<T>(what: string, attempt: () => Promise<T>, o: WaitOptions): Promise<T | null> {
  const backoff = o.backoff ?? new Backoff({ baseMs: 1000, capMs: 60_000 });
  const sleep = o.sleep ?? systemClock.sleep;
  const now = o.now ?? Date.now;
  const startedAt = now();
  const faults = o.faults ?? new FaultBoard(o.logger, now);
  const errors: { at: number; code: string; message: string }[] = [];
  for (;;) {
    if (o.signal.aborted) return null;
    try {
      const value = await attempt();
      faults.clear(what, 'ready');
      return value;
    } catch (err) {
      if (!isTransientStartupError(err)) throw err;
      const message = (err as Error).message;
      const problem = { code: String((err as { code: string }).code), message: message.includes(what) ? message : `${what}: ${message}` };
      errors.push({ at: now(), ...problem });
      if (errors.length > LAST_ERRORS) errors.shift();
      const delayMs = backoff.next();
      faults.raise(what, problem.code, problem.message, { retryInMs: delayMs, attempt: backoff.attempt });
      const status = waitingStatus(o.nodeId, what, problem, errors, startedAt, now(), faults.list());
      o.onStatus?.(status);
      await writeStatusReported(o.stateDir, status, faults);
      await sleep(delayMs, o.signal);
    }
  }
}

/** status.json while the agent cannot start yet: not sealing, and why. */
export function waitingStatus(nodeId: string, what: string, problem: StartupProblem, lastErrors: NodeStatus['lastErrors'], startedAt: number, now: number, faults: readonly Fault[] = []): NodeStatus {
  return {
    version: 1,
    nodeId,
    state: 'idle',
    pid: process.pid,
    startedAt,
    updatedAt: now,
    uptimeMs: now - startedAt,
    activation: { state: 'not-activated', reason: `waiting: ${problem.message.includes(what) ? problem.message : `${what}: ${problem.message}`}` },
    tpm: null,
    broker: { connected: false, state: 'not started' },
    chain: { height: 0, tipHash: '', finalizedHeight: -1, paramsVersion: 0 },
    seals: { made: 0, reused: 0, published: 0, notDelivered: 0 },
    spins: { sealed: 0, refused: 0, inactive: 0, 'better-seal': 0, aborted: 0, deadline: 0, 'max-rounds': 0, failed: 0 },
    spinning: 0,
    rejected: {},
    invalidMessages: {},
    lastErrors: [...lastErrors],
    faults: [...faults],
  };
}

/**
 * For a device TCTI the TSS only says "tcti:IO failure": name what is wrong with the device node
 * instead (missing: no TPM found; not accessible: the service user is not in group tss).
 * Returns `err` itself when the node is there and usable, or for other TCTIs.
 */
export async function explainTpmFailure(tcti: string, err: unknown): Promise<unknown> {
  const device = /^device:(\/[A-Za-z0-9._\-/]+)$/.exec(tcti)?.[1];
  if (device === undefined || (err as { code?: unknown })?.code !== 'ERR_TPM_UNREACHABLE') return err;
  let why: string;
  try {
    await access(device, constants.R_OK | constants.W_OK);
    return err;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') why = `${device} does not exist (ENOENT): no TPM found; check that the TPM module is seated and enabled (on a Raspberry Pi: dtoverlay=tpm-slb9670 in config.txt)`;
    else if (code === 'EACCES' || code === 'EPERM') why = `no permission to open ${device} (${code}): the service user must be in group tss`;
    else return err;
  }
  return new TpmError('ERR_TPM_UNREACHABLE', why, { cause: err });
}

