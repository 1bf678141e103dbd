// Keeps a registrar instance on the network manifest its store holds. Several instances share
// one store, and an operator publishes through one of them: the others learn of it by reading
// the stored manifest again every few seconds (one row by its key; verified only when its
// version is newer than the one followed), so after a root key rotation's window opens every
// instance signs with the next key, not only the one that took the publish. A stored manifest
// that does not verify under this instance's keys (its key files are not the network's, or the
// row was written around the API) is not followed: it is logged once and the held one kept.
// The manifest route reads the store on each request, so what is served needs no re-read.
import type { Logger } from 'pino';
import { toHex } from '../../firmware/core/bytes.ts';
import { keepRotation, verifyStored, type ManifestDeps } from './network-manifest.ts';

/** How often an instance reads the stored manifest again by default. */
export const DEFAULT_MANIFEST_REFRESH_MS = 15_000;
/** Bounds of the re-read interval: often enough to matter in a rotation window of days, rarely enough to cost nothing. */
export const MIN_MANIFEST_REFRESH_MS = 1_000;
export const MAX_MANIFEST_REFRESH_MS = 300_000;

/** What a re-read found: nothing stored, nothing newer, a newer manifest followed, or one refused. */
export type RefreshOutcome = 'none' | 'unchanged' | 'followed' | 'refused' | 'unreadable';

export class ManifestFollower {
  readonly #deps: ManifestDeps;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<RefreshOutcome> | null = null;
  /** The stored version last refused, so that it is logged once, not at every re-read. */
  #refused: number | null = null;
  #unreadable = false;
  #closed = false;

  constructor(deps: ManifestDeps, log: Logger, intervalMs: number = DEFAULT_MANIFEST_REFRESH_MS) {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < MIN_MANIFEST_REFRESH_MS || intervalMs > MAX_MANIFEST_REFRESH_MS) {
      throw new RangeError(`manifestRefreshMs must be an integer in ${MIN_MANIFEST_REFRESH_MS}..${MAX_MANIFEST_REFRESH_MS}`);
    }
    this.#deps = deps;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** Re-reads on a timer that does not keep the process alive. */
  start(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(() => void this.refresh(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer; a re-read under way finishes. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Reads the stored manifest now and follows it when it is newer and verifies; one re-read at a time. Never rejects. */
  refresh(): Promise<RefreshOutcome> {
    this.#running ??= this.#refresh().finally(() => { this.#running = null; });
    return this.#running;
  }

  async #refresh(): Promise<RefreshOutcome> {
    const { store, signer } = this.#deps;
    let stored;
    try {
      stored = await store.networkManifest();
    } catch (err) {
      // Logged once per outage: the requests that fail meanwhile say the rest.
      if (!this.#unreadable) this.#log.warn({ err: (err as Error).message }, 'network manifest not read from the store; signing stays under the one held (the root key before any)');
      this.#unreadable = true;
      return 'unreadable';
    }
    this.#unreadable = false;
    if (stored === null) return 'none';
    const followed = signer.version;
    if (followed !== null && stored.version <= followed) return 'unchanged';
    if (stored.version === this.#refused) return 'refused';
    let held;
    try {
      held = verifyStored(this.#deps, stored);
    } catch (err) {
      this.#refused = stored.version;
      const reason = ((err as Error).cause as Error | undefined)?.message;
      this.#log.error({ network: stored.network, version: stored.version, followed, reason },
        'stored network manifest does not verify under this registrar\'s root keys: not followed, the held one is kept');
      return 'refused';
    }
    // Followed at once, with no await since the version check: a publish on this instance meanwhile is never undone.
    if (!signer.follow(held.terms)) return 'unchanged';
    this.#log.info({ network: stored.network, version: stored.version, previous: followed, signingKey: toHex(signer.current().publicKey) }, 'network manifest followed');
    const problem = signer.problem();
    if (problem !== null) this.#log.warn(problem);
    try {
      // Mends a publish whose instance stopped before it kept the announcement.
      await keepRotation(this.#deps, held.terms);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, version: stored.version }, 'rotation announcement not kept; a restart keeps it');
    }
    return 'followed';
  }
}
