// Faults the node has right now: a state directory that is
// full or read-only, a seal journal that cannot be written, a status file that cannot be
// written, a TPM that is not there. Each is said once in the log (pino on stderr, the service's
// journal) when it appears or its text changes, at debug while it lasts, and at info when it is
// over; status.json and the status page list the same text. Retries never repeat it at warn.
import type { Logger } from 'pino';

export interface Fault {
  /** What is faulty: "seal journal", "status file", "TPM at ...". */
  readonly key: string;
  readonly code: string;
  readonly message: string;
  readonly since: number;
}

const MAX_FAULTS = 20;

// The keys of the faults the household's headline and the status light tell apart live with that rule.
export { JOURNAL_FAULT_KEY, JOURNAL_ROLLBACK_FAULT_KEY, NETWORK_FAULT_KEY, STATUS_FILE_FAULT_KEY } from '../status/headline.ts';

export class FaultBoard {
  readonly #faults = new Map<string, Fault>();
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #listeners = new Set<() => void>();

  constructor(logger: Logger, now: () => number = Date.now) {
    this.#log = logger;
    this.#now = now;
  }

  /** Records a fault; logs it at error only when it is new or its text changed. */
  raise(key: string, code: string, message: string, detail: Record<string, unknown> = {}): void {
    const prev = this.#faults.get(key);
    if (prev !== undefined && prev.code === code && prev.message === message) {
      this.#log.debug({ fault: key, code, ...detail }, message);
      return;
    }
    if (prev === undefined && this.#faults.size >= MAX_FAULTS) return;
    this.#faults.set(key, { key, code, message: message.slice(0, 500), since: prev?.since ?? this.#now() });
    this.#log.error({ fault: key, code, ...detail }, message);
    this.#changed();
  }

  /** The fault is over: one info line if there was one. */
  clear(key: string, note = 'working again'): void {
    const prev = this.#faults.get(key);
    if (prev === undefined) return;
    this.#faults.delete(key);
    this.#log.info({ fault: key, code: prev.code, lastedMs: this.#now() - prev.since }, `${key}: ${note}`);
    this.#changed();
  }

  has(key: string): boolean {
    return this.#faults.has(key);
  }

  list(): Fault[] {
    return [...this.#faults.values()].map((f) => ({ ...f }));
  }

  /** Called after every change (status.json is rewritten at once). Returns an unsubscribe. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    for (const fn of [...this.#listeners]) fn();
  }
}
