// Keeps the node's broker identity usable: hands the transport the credential its TPM released
// (at activation, or later), and re-activates when an active node has none it can use: the
// credential file is unreadable, or missing while the broker refuses the node (a state dir
// restored from an old backup, a re-flash; the TPM and its sealing key survive), or the broker
// keeps refusing it as not authorized (the password was rotated elsewhere). Re-activations are paced by a jittered backoff that only a
// working connection resets, so a broken root or broker never sees a tight loop.
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../core/backoff.ts';
import { systemClock } from '../core/clock.ts';
import { readBrokerCredentials, type BrokerCredentials } from '../activation/broker-credentials.ts';
import type { GateState } from '../sealing/gate.ts';

/** The part of the activation gate the keeper uses. */
export interface RenewingGate {
  current(): GateState;
  onChange(fn: (s: GateState) => void): () => void;
  /** One re-activation attempt; writes the new broker credential (0600, atomically) before it resolves. */
  renew(): Promise<unknown>;
}

/** The part of the MQTT transport the keeper uses. */
export interface CredentialedTransport {
  readonly state: string;
  readonly identity: { readonly refused: number; readonly lastRefusal: string | null };
  useCredentials(username: string, password: string): void;
}

export interface BrokerCredentialKeeperOptions {
  readonly stateDir: string;
  readonly gate: RenewingGate;
  readonly transport: CredentialedTransport;
  readonly logger: Logger;
  /** The password the transport was created with, if any. */
  readonly using?: string;
  /** How often to look at the credential file and the broker's refusals (ms; default 5 s). */
  readonly checkEveryMs?: number;
  /** Refusals as not authorized, with the current credential, before it re-activates (default 3). */
  readonly refusalsBeforeRenewal?: number;
  /** Pacing between re-activations; default 30 s doubling up to 30 min, full jitter. */
  readonly backoff?: BackoffOptions;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const DEFAULT_RENEWAL_BACKOFF = { baseMs: 30_000, capMs: 30 * 60_000 } as const;
/** What the broker says to a user name or password it does not accept (MQTT 5 0x86/0x87, 3.1.1 codes 4/5). */
const NOT_AUTHORIZED = /not authori[sz]ed|bad user ?name or password/i;

export class BrokerCredentialKeeper {
  readonly #o: BrokerCredentialKeeperOptions;
  readonly #stop = new AbortController();
  readonly #backoff: Backoff;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  #using: string | undefined;
  /** The transport's refusal count at the last look, and refusals as not authorized in a row since the credential was handed over. */
  #refusedSeen: number;
  #notAuthorized = 0;
  /** Any refusal since the credential (or none) was handed over. */
  #refusedSinceUse = false;
  #earliestRenewal = 0;
  /** A renewal answered without a broker credential: this root does not manage the broker. */
  #rootHasNone = false;
  #wake: AbortController = new AbortController();
  #loop: Promise<void> | null = null;
  #off: (() => void) | null = null;
  readonly stats = { renewals: 0, renewalFailures: 0 };

  constructor(options: BrokerCredentialKeeperOptions) {
    this.#o = options;
    this.#using = options.using;
    this.#refusedSeen = options.transport.identity.refused;
    this.#backoff = new Backoff({ ...DEFAULT_RENEWAL_BACKOFF, ...options.backoff });
    this.#now = options.now ?? systemClock.now;
    this.#sleep = options.sleep ?? systemClock.sleep;
  }

  start(): void {
    if (this.#loop !== null) return;
    // Activation writes the credential: look at once rather than at the next check.
    this.#off = this.#o.gate.onChange(() => this.#wake.abort());
    this.#loop = this.#run().catch((err: unknown) => this.#o.logger.error({ err: (err as Error).message }, 'broker credential keeper stopped on an unexpected error'));
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake.abort();
    this.#off?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const every = this.#o.checkEveryMs ?? 5_000;
    while (!this.#stop.signal.aborted) {
      await this.check();
      if (this.#stop.signal.aborted) return;
      if (this.#wake.signal.aborted) this.#wake = new AbortController();
      await this.#sleep(every, AbortSignal.any([this.#stop.signal, this.#wake.signal]));
    }
  }

  /** One look: use a new credential, or re-activate when the node has none it can use. */
  async check(): Promise<void> {
    const { transport, gate, logger } = this.#o;
    this.#countRefusals();
    if (transport.state === 'online') {
      // The credential works: the pace starts over should it be refused later.
      this.#backoff.reset();
      this.#earliestRenewal = 0;
      this.#notAuthorized = 0;
      this.#refusedSinceUse = false;
    }
    if (gate.current().state !== 'active') return;
    const creds = await this.#read();
    if (creds !== 'unreadable' && creds !== null && creds.password !== this.#using) {
      this.#use(creds);
      return;
    }
    const why = this.#renewalReason(creds);
    if (why === null || this.#now() < this.#earliestRenewal) return;
    this.#earliestRenewal = this.#now() + this.#backoff.next();
    logger.warn({ reason: why }, `re-activating with the root node for a new broker credential: ${why}`);
    try {
      await gate.renew();
      this.stats.renewals++;
    } catch (err) {
      this.stats.renewalFailures++;
      logger.warn({ err: (err as Error).message, retryNotBeforeMs: this.#earliestRenewal - this.#now() }, 're-activation failed; trying again later');
      return;
    }
    const fresh = await this.#read();
    if (fresh === null || fresh === 'unreadable') {
      this.#rootHasNone = true;
      logger.info('the root renewed the certificate but gave no broker credential: it does not manage this broker');
      return;
    }
    this.#use(fresh);
  }

  /** Refusals since the last look: as not authorized they add up; any other reason starts the count over. */
  #countRefusals(): void {
    const { refused, lastRefusal } = this.#o.transport.identity;
    const fresh = refused - this.#refusedSeen;
    this.#refusedSeen = refused;
    if (fresh <= 0) return;
    this.#refusedSinceUse = true;
    this.#notAuthorized = lastRefusal !== null && NOT_AUTHORIZED.test(lastRefusal) ? this.#notAuthorized + fresh : 0;
  }

  #renewalReason(creds: BrokerCredentials | null | 'unreadable'): string | null {
    if (creds === 'unreadable') return 'the broker credential file is unreadable';
    const { lastRefusal } = this.#o.transport.identity;
    if (this.#notAuthorized >= (this.#o.refusalsBeforeRenewal ?? 3)) return `the broker refused the credential ${this.#notAuthorized} times (${lastRefusal ?? 'not authorized'})`;
    // Missing: only once the broker has refused the node too (a root that does not manage the
    // broker, with anonymous or configured access, needs no credential file).
    if (creds === null && !this.#rootHasNone && this.#refusedSinceUse) return `the broker credential file is missing and the broker refuses the node (${lastRefusal ?? 'refused'})`;
    return null;
  }

  #use(c: BrokerCredentials): void {
    this.#using = c.password;
    this.#refusedSeen = this.#o.transport.identity.refused;
    this.#notAuthorized = 0;
    this.#refusedSinceUse = false;
    this.#o.logger.info({ username: c.username }, 'connecting to the broker with the credentials the TPM released');
    this.#o.transport.useCredentials(c.username, c.password);
  }

  async #read(): Promise<BrokerCredentials | null | 'unreadable'> {
    try {
      return await readBrokerCredentials(this.#o.stateDir);
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'broker credentials not used');
      return 'unreadable';
    }
  }
}
