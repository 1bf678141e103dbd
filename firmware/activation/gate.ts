// The activation gate the agent obeys before every signature (firmware/sealing/gate.ts):
// active only with a registration certificate from the root node; activates by itself on first
// start, retrying with jittered exponential backoff while the root is unreachable (or the TPM
// is not filed yet); turns revoked, for good, when the root's signed revocation list names the
// node. A forged or replayed list changes nothing: it must verify with the root key and its
// version may not go back. Once active it renews its registration certificate before it ends
// (renewal.ts), by re-activating; and as soon as a root key rotation's window opens, so the
// certificate is signed by the new key long before the old one stops counting.
import type { Logger } from 'pino';
import pino from 'pino';
import { verifyRevocationList } from '../protocol/revocation-list.ts';
import { systemClock } from '../core/clock.ts';
import type { GateState, SealGate } from '../sealing/gate.ts';
import { Backoff, type BackoffOptions } from '../core/backoff.ts';
import { activate, type ActivationTpm } from './activate.ts';
import { nodeIdFromSpki } from '../protocol/identity.ts';
import { publicKeySpki } from '../../tpm/public-area.ts';
import { RootClient, type RootClientOptions } from './client.ts';
import { ActivationError } from './errors.ts';
import { renewalDue } from './renewal.ts';
import { verifyRegistration } from '../protocol/registration.ts';
import { toHex } from '../core/bytes.ts';
import type { RootKeys } from '../protocol/root-keys.ts';
import { readActivationState, writeActivationState, type ActivationState } from './state.ts';

export interface ActivationGateOptions {
  readonly rootUrl: string;
  /** Root Ed25519 public key (32 bytes): verifies certificates and revocation lists. */
  readonly rootPublicKey: Uint8Array;
  /** The root keys the held network manifest names (a rotation's window); null or absent: rootPublicKey alone. */
  readonly rootKeys?: () => RootKeys | null;
  readonly tpm: ActivationTpm;
  readonly stateDir: string;
  readonly handle?: number;
  /** How often to fetch the revocation list once active (ms, jittered ±20 %). */
  readonly revocationPollMs?: number;
  /** Activation retry windows; default 1 s doubling up to 5 min, full jitter. */
  readonly backoff?: BackoffOptions;
  readonly client?: RootClientOptions;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly logger?: Logger;
  /** Every list fetched from the root, as received: the node's seal authority verifies and applies it too (one poll feeds both). */
  readonly onRevocationList?: (raw: unknown) => void;
}

export const DEFAULT_REVOCATION_POLL_MS = 5 * 60_000;
const DEFAULT_ACTIVATION_BACKOFF = { baseMs: 1_000, capMs: 5 * 60_000 } as const;

export class ActivationGate implements SealGate {
  readonly #o: ActivationGateOptions;
  readonly #log: Logger;
  readonly #client: RootClient;
  readonly #stop = new AbortController();
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  #state: GateState = { state: 'not-activated', nodeId: '', reason: 'the activation gate has not started' };
  #stored: ActivationState | null = null;
  #loop: Promise<void> | null = null;
  #polling: Promise<void> = Promise.resolve();
  #listeners: Array<(s: GateState) => void> = [];

  constructor(options: ActivationGateOptions) {
    if (!(options.rootPublicKey instanceof Uint8Array) || options.rootPublicKey.length !== 32) {
      throw new ActivationError('ERR_ACTIVATION_ARGUMENT', 'rootPublicKey must be the 32-byte Ed25519 public key of the root node');
    }
    this.#o = options;
    this.#client = new RootClient(options.rootUrl, options.client);
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'activation-gate' });
    this.#sleep = options.sleep ?? systemClock.sleep;
    this.#random = options.random ?? Math.random;
  }

  current(): GateState {
    return this.#state;
  }

  /** Calls `fn` on every change of state (after it happened). Returns an unsubscribe function. */
  onChange(fn: (s: GateState) => void): () => void {
    this.#listeners.push(fn);
    return () => {
      this.#listeners = this.#listeners.filter((f) => f !== fn);
    };
  }

  /** Resolves when the state satisfies `pred` (or at once if it does). */
  waitFor(pred: (s: GateState) => boolean): Promise<GateState> {
    if (pred(this.#state)) return Promise.resolve(this.#state);
    return new Promise((resolve) => {
      const off = this.onChange((s) => {
        if (pred(s)) {
          off();
          resolve(s);
        }
      });
    });
  }

  /**
   * Reads the stored state (an active node is active when this resolves), then activates and
   * watches revocations in the background until stop().
   */
  async start(): Promise<void> {
    if (this.#loop !== null) return;
    await this.#loadStored();
    this.#loop = this.#run().catch((err: unknown) => {
      this.#log.error({ err: String(err) }, 'activation gate stopped on an unexpected error');
      this.#set({ state: 'not-activated', nodeId: this.#state.nodeId, reason: `activation gate failed: ${(err as Error).message}` });
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  #set(s: GateState): void {
    const prev = this.#state;
    this.#state = s;
    if (prev.state !== s.state || prev.nodeId !== s.nodeId || ('reason' in prev && 'reason' in s && prev.reason !== s.reason)) {
      for (const fn of [...this.#listeners]) fn(s);
    }
  }

  #activeState(st: ActivationState): GateState {
    return st.status === 'revoked'
      ? { state: 'revoked', nodeId: st.nodeId, reason: `revoked by the root node: ${st.revokedReason ?? 'no reason given'}` }
      : { state: 'active', nodeId: st.nodeId, registration: st.certificate };
  }

  async #loadStored(): Promise<void> {
    try {
      const key = await this.#o.tpm.sealingKey(this.#o.handle === undefined ? {} : { handle: this.#o.handle });
      const nodeId = key === null ? '' : nodeIdFromSpki(publicKeySpki(key.public));
      const stored = await readActivationState(this.#o.stateDir);
      if (stored !== null && stored.nodeId === nodeId) {
        this.#stored = stored;
        this.#set(this.#activeState(stored));
      } else {
        this.#set({ state: 'not-activated', nodeId, reason: `not activated yet; activating with the root node at ${this.#client.url.origin}` });
      }
    } catch (err) {
      this.#set({ state: 'not-activated', nodeId: '', reason: (err as Error).message });
    }
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const backoff = new Backoff({ ...DEFAULT_ACTIVATION_BACKOFF, random: this.#random, ...this.#o.backoff });
    // A root that does not answer is said once at warn (again only when the reason changes);
    // further attempts go to debug, so a node offline for days does not flood its journal.
    let said: string | null = null;
    while (!signal.aborted && this.#state.state === 'not-activated') {
      try {
        const st = await activate({
          rootUrl: this.#o.rootUrl, tpm: this.#o.tpm, stateDir: this.#o.stateDir, rootPublicKey: this.#rootKeysNow(), logger: this.#log,
          ...(this.#o.handle === undefined ? {} : { handle: this.#o.handle }),
          ...(this.#o.client === undefined ? {} : { client: this.#o.client }),
          ...(this.#o.now === undefined ? {} : { now: this.#o.now }),
        });
        this.#stored = st;
        if (said !== null) this.#log.info({ attempts: backoff.attempt + 1, rootUrl: this.#client.url.origin }, `activated with the root node at ${this.#client.url.origin} after ${backoff.attempt + 1} attempts`);
        this.#set(this.#activeState(st));
      } catch (err) {
        const e = err as ActivationError;
        if (e.code === 'ERR_ACTIVATION_REVOKED') {
          this.#set({ state: 'revoked', nodeId: this.#state.nodeId, reason: e.message });
          return;
        }
        const delay = backoff.next();
        const reason = `${e.message}; retrying in ${Math.max(1, Math.ceil(delay / 1000))} s`;
        this.#log[said === e.message ? 'debug' : 'warn']({ code: e.code, attempt: backoff.attempt, retryInMs: delay, rootUrl: this.#client.url.origin }, reason);
        said = e.message;
        this.#set({ state: 'not-activated', nodeId: this.#state.nodeId, reason });
        await this.#sleep(delay, signal);
      }
    }
    const every = this.#o.revocationPollMs ?? DEFAULT_REVOCATION_POLL_MS;
    // Polls until the node is revoked durably: a revocation that could not be written yet (full
    // or read-only disk) already stops sealing, and a later poll writes it. A failing poll is
    // said once at warn, again only when the reason changes.
    let failing: string | null = null;
    while (!signal.aborted && this.#stored?.status === 'active' && this.#state.state !== 'not-activated') {
      try {
        await this.pollRevocations();
        if (failing !== null) this.#log.info('revocation list checked again');
        failing = null;
      } catch (err) {
        const message = `revocation list not checked: ${(err as Error).message}`;
        this.#log[message === failing ? 'debug' : 'warn']({ code: (err as ActivationError).code }, message);
        failing = message;
      }
      if (this.#stored?.status !== 'active') break;
      await this.#renewIfDue();
      await this.#sleep(Math.round(every * (0.8 + 0.4 * this.#random())), signal);
    }
  }

  /**
   * Re-activates an active node (same challenge and proof): a fresh certificate and, when the
   * root manages the broker, a fresh broker credential in the state dir (the old password stops
   * working). One attempt, serialized with the revocation checks; the caller paces retries. A
   * root that says revoked makes the node check its revocation list now.
   */
  renew(): Promise<ActivationState> {
    const run = this.#polling.then(() => this.#renewOnce());
    this.#polling = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Renews the registration certificate once it is due (renewal.ts); a failure is said and tried again at the next poll. */
  async #renewIfDue(): Promise<void> {
    const cert = this.#stored?.certificate;
    if (cert === undefined || this.#state.state !== 'active') return;
    const now = (this.#o.now ?? Date.now)();
    const issuedAt = Date.parse(String(cert['issuedAt']));
    const expiresAt = Date.parse(String(cert['expiresAt']));
    if (!renewalDue(issuedAt, expiresAt, now) && !this.#signedByRetiringKey(cert, now)) return;
    try {
      const st = await this.renew();
      this.#log.info({ expiresAt: st.certificate['expiresAt'] }, 'registration certificate renewed');
    } catch (err) {
      this.#log.warn({ code: (err as ActivationError).code, expiresAt: cert['expiresAt'] }, `registration certificate not renewed yet: ${(err as Error).message}`);
    }
  }

  /** The root keys that sign now: the config's key, or those of the held manifest's rotation window. */
  #rootKeysNow(): readonly Uint8Array[] {
    return this.#o.rootKeys?.()?.at((this.#o.now ?? Date.now)()) ?? [this.#o.rootPublicKey];
  }

  /**
   * A certificate signed by a key that no longer signs, or by the retiring key and issued before
   * the window opened: renew under the new key. One issued later under the old key means the root
   * does not sign with the new key yet; asking again at every poll would only churn.
   */
  #signedByRetiringKey(cert: Record<string, unknown>, now: number): boolean {
    const keys = this.#o.rootKeys?.();
    const newest = keys?.newestAt(now);
    if (keys == null || newest == null || keys.rotation === null) return false;
    let signer: string;
    try {
      signer = toHex(verifyRegistration(cert, keys.spans.map((k) => k.key)).signer);
    } catch {
      return true; // signed by no key held any longer
    }
    if (!keys.at(now).some((k) => toHex(k) === signer)) return true;
    return signer !== toHex(newest) && Date.parse(String(cert['issuedAt'])) < keys.rotation.from;
  }

  async #renewOnce(): Promise<ActivationState> {
    const stored = this.#stored;
    if (stored === null || stored.status !== 'active' || this.#state.state !== 'active') {
      throw new ActivationError('ERR_ACTIVATION_STATE', `only an active node re-activates; this one is ${this.#state.state}`);
    }
    try {
      const st = await activate({
        rootUrl: this.#o.rootUrl, tpm: this.#o.tpm, stateDir: this.#o.stateDir, rootPublicKey: this.#rootKeysNow(), logger: this.#log, renew: true,
        ...(this.#o.handle === undefined ? {} : { handle: this.#o.handle }),
        ...(this.#o.client === undefined ? {} : { client: this.#o.client }),
        ...(this.#o.now === undefined ? {} : { now: this.#o.now }),
      });
      this.#stored = st;
      this.#set(this.#activeState(st));
      return st;
    } catch (err) {
      // Only the signed list revokes for good; fetch it now rather than at the next poll.
      if ((err as ActivationError).code === 'ERR_ACTIVATION_REVOKED') await this.#pollOnce().catch(() => undefined);
      throw err;
    }
  }

  /** Fetches and verifies the revocation list once; turns revoked if it names this node. */
  pollRevocations(): Promise<void> {
    // One poll at a time: the background loop and a caller must not interleave state writes.
    const run = this.#polling.then(() => this.#pollOnce());
    this.#polling = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies a revocation list that arrived another way (retained on the broker's revocations
   * topic): verified with the root key like a polled one; older or forged lists are refused.
   */
  applyRevocationList(raw: unknown): Promise<void> {
    const run = this.#polling.then(() => this.#apply(raw, 'pushed revocation list'));
    this.#polling = run.catch(() => undefined);
    return run;
  }

  async #pollOnce(): Promise<void> {
    const stored = this.#stored;
    if (stored === null || stored.status !== 'active') return;
    const raw = await this.#client.revocations();
    this.#o.onRevocationList?.(raw);
    await this.#apply(raw, 'GET /v1/revocations');
  }

  async #apply(raw: unknown, source: string): Promise<void> {
    const stored = this.#stored;
    if (stored === null || stored.status !== 'active') return;
    let list;
    try {
      list = verifyRevocationList(raw, this.#rootKeysNow(), stored.revocationVersion);
    } catch (err) {
      throw new ActivationError('ERR_ACTIVATION_BAD_RESPONSE', `${source}: ${(err as Error).message}`, {}, { cause: err });
    }
    const entry = list.entries.find((e) => e.nodeId === stored.nodeId);
    if (entry === undefined) {
      if (list.version > stored.revocationVersion) {
        this.#stored = { ...stored, revocationVersion: list.version };
        await writeActivationState(this.#o.stateDir, this.#stored);
      }
      return;
    }
    // Persist before acting: after a restart the node stays revoked even with the root offline.
    const revoked: ActivationState = { ...stored, status: 'revoked', revocationVersion: list.version, revokedAt: entry.revokedAt, revokedReason: entry.reason };
    try {
      await writeActivationState(this.#o.stateDir, revoked);
    } catch (err) {
      // The list is signed and verified: stop sealing now (the safe direction) even though the
      // disk refuses the write; #stored stays active so the next poll writes it.
      if (this.#state.state !== 'revoked') {
        this.#log.error({ nodeId: stored.nodeId, version: list.version }, `this node is revoked; it stops sealing (not yet written: ${(err as Error).message})`);
        this.#set(this.#activeState(revoked));
      }
      throw err;
    }
    this.#stored = revoked;
    if (this.#state.state !== 'revoked') this.#log.warn({ nodeId: stored.nodeId, version: list.version }, 'this node is revoked; it stops sealing');
    this.#set(this.#activeState(revoked));
  }
}
