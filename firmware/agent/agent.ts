// One secondary node (docs/protocol.md): tests candidate blocks, spins for a seal with the TPM,
// sends the seal to the candidate's clerk, follows final blocks whose votes make a quorum, and the
// root-signed network manifest. Nothing unsigned moves its state: a message that does not verify
// is counted as invalid and dropped.
// Invalid input is logged with its specific reason and dropped; the agent keeps running.
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type { Logger } from 'pino';
import { candidateCapFor } from '../protocol/chain/candidate-wire.ts';
import { toHex } from '../core/bytes.ts';
import { sealSender } from '../protocol/topics.ts';
import { comparePriority, type TicketScore } from '../protocol/chain/lottery.ts';
import { competingSeal } from '../protocol/seal-check.ts';
import { keyFingerprint } from '../protocol/identity.ts';
import type { ChainTip, RejectReason } from '../protocol/chain/validate.ts';
import { takeCandidate } from './candidate-intake.ts';
import type { Json } from '../protocol/message-schema.ts';
import { finalMessage, type FinalMessage } from '../protocol/final-message.ts';
import type { NetworkParams } from '../protocol/params.ts';
import { manifestMessage, type SignedManifest } from '../protocol/network-manifest.ts';
import { QuorumError, verifyQuorum } from '../protocol/quorum.ts';
import type { NetworkTerms } from '../node/network-state.ts';
import { encodeSealMessage, sealMessage, type SealMessage } from '../protocol/seal-message.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { createSealEngine, type SealEngine, type SpinOutcome } from '../sealing/engine.ts';
import type { DropEvent, InboundMessage } from '../transport/mqtt-transport.ts';
import { chainParams } from '../protocol/params.ts';
import type { TpmInfo } from '../../tpm/tpm.ts';
import { checkOptions, type AgentOptions } from './options.ts';
import { AgentError } from './errors.ts';
import { brokerStatus, PROCESS_USER, selfTestOf, StatusCounters, unreadableKind, writeStatusReported } from './status.ts';
import { spinSummary, type RejectedEvent, type RivalSealEvent, type SealEvent, type SpinEvent } from './events.ts';
import { ceilingProblem } from './ceiling.ts';
import { statusMessageOf, writeStatusFile, type NodeStatus } from '../status/index.ts';

export { chainParams };
export type { AgentOptions };
export type { RejectedEvent, RivalSealEvent, SealEvent, SpinEvent } from './events.ts';

/** How a refused manifest is counted: a bad one, or one signed by a root key this node does not hold valid now. */
const MANIFEST_REFUSALS: Readonly<Record<string, string>> = { ERR_PROTOCOL_MANIFEST: 'refused', ERR_PROTOCOL_ROOT_KEY: 'root-key' };

interface Spin {
  readonly height: number;
  readonly hash: string;
  readonly controller: AbortController;
}

export class SecondaryAgent extends EventEmitter {
  readonly nodeId: string;
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #clock: Pick<Clock, 'now' | 'sleep'>;
  readonly #engine: SealEngine;
  readonly #counters = new StatusCounters();
  /** (height, clerk) -> hash of the first block taken up for that slot. */
  readonly #slots = new Map<string, string>();
  readonly #spins = new Set<Spin>();
  /** Best competing seal per block hash. */
  readonly #best = new Map<string, TicketScore>();
  readonly #sealSubs = new Map<string, () => void>();
  readonly #unsubs: (() => void)[] = [];
  readonly #inflight = new Set<Promise<unknown>>();
  /** null until the node holds network terms (the genesis comes with them). */
  #tip: ChainTip | null;
  /**
   * The newest final and candidate that arrived before any terms: a new node gets the retained
   * manifest, final and candidate together, and checks the last two once the first is stored.
   */
  #heldFinal: InboundMessage<FinalMessage> | null = null;
  #heldCandidate: InboundMessage<Uint8Array> | null = null;
  /** The manifest version whose block caps were found above the device's ceiling (said once). */
  #ceilingWarned = 0;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #startedAt: number | null = null;
  #tpmInfo: TpmInfo | null = null;
  /** The sealing key's self-test at start (the update health check requires it verified). */
  #selfTest: { verified: boolean; at: number; error?: string } | undefined;
  #timer: NodeJS.Timeout | null = null;
  #onTransportState: ((s: string) => void) | null = null;
  #onDrop: ((e: DropEvent) => void) | null = null;

  constructor(options: AgentOptions) {
    super();
    checkOptions(options);
    this.#o = options;
    this.nodeId = options.nodeId;
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'agent', node: options.nodeId });
    this.#tip = options.network.current?.genesis ?? null;
    this.#engine = createSealEngine({ journal: options.journal, gate: options.gate, clock: this.#clock, logger: this.#log, signer: options.signer });
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new AgentError('ERR_AGENT_STATE', `agent is ${this.#state}; start() runs once`);
    this.#state = 'running';
    this.#startedAt = this.#clock.now();
    const { transport, topics } = this.#o;
    try {
      this.#tpmInfo = await this.#o.tpm.info(this.#o.sealingHandle === undefined ? {} : { handle: this.#o.sealingHandle });
      this.#selfTest = await selfTestOf(this.#o.selfTest, this.#clock.now());
    } catch (err) {
      this.#error('ERR_AGENT_TPM', `TPM info failed: ${(err as Error).message}`);
    }
    // The manifest and the final tip first (both retained), then candidates.
    // The transport caps each message kind at its schema's size, parses it once and reads it once.
    this.#unsubs.push(this.#o.network.onChange((t) => this.#onTerms(t)));
    this.#unsubs.push(transport.subscribe(topics.manifest, (m) => this.#track(this.#onManifest(m.value)), { qos: 1, schema: manifestMessage, onInvalid: (err) => this.#invalid('manifest', err) }));
    this.#unsubs.push(transport.subscribe(topics.final, (m) => this.#track(this.#onFinal(m)), { qos: 1, schema: finalMessage, onInvalid: (err) => this.#invalid('final', err) }));
    // Candidates come as bytes (binary frame or JSON, told apart by the first byte), under the cap
    // the manifest in force gives their encoding; before any manifest, under the device ceiling.
    this.#unsubs.push(transport.subscribe<Uint8Array>(topics.candidates, (m) => this.#track(this.#onCandidate(m)), {
      qos: 1, raw: true, maxBytes: (payload) => this.#candidateCap(payload),
      onOversize: (bytes, cap) => this.#reject(undefined, 'oversize', `candidate of ${bytes} bytes is above the cap of ${cap} bytes (manifest v${this.#o.network.current?.version ?? '-'}, device ceiling ${transport.inboundCeiling})`),
    }));
    this.#onTransportState = (s) => { if (s === 'online') this.#publishStatus(); };
    transport.on('state', this.#onTransportState);
    // What the transport drops before any schema sees it (not JSON, above the cap) is counted too.
    this.#onDrop = (e) => {
      const kind = unreadableKind(this.#o.topics, e);
      if (kind !== null) this.#invalid(kind, new Error(`${e.reason}: ${e.detail}`));
    };
    transport.on('drop', this.#onDrop);
    this.#publishStatus();
    await this.#writeStatus();
    const every = this.#o.statusIntervalMs ?? 5000;
    this.#timer = setInterval(() => {
      this.#publishStatus();
      void this.#writeStatus();
    }, every);
    this.#timer.unref();
    this.#log.info({ height: this.#tip?.height ?? null, manifest: this.#o.network.current?.version ?? null, activation: this.#o.gate.current().state }, 'agent started');
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopped';
    if (this.#timer) clearInterval(this.#timer);
    for (const u of [...this.#unsubs, ...this.#sealSubs.values()]) u();
    this.#unsubs.length = 0;
    this.#sealSubs.clear();
    if (this.#onTransportState) this.#o.transport.off('state', this.#onTransportState);
    if (this.#onDrop) this.#o.transport.off('drop', this.#onDrop);
    for (const s of this.#spins) s.controller.abort('agent stopping');
    await Promise.allSettled([...this.#inflight]);
    if (wasRunning) await this.#writeStatus();
    this.#log.info('agent stopped');
  }

  status(): NodeStatus {
    const now = this.#clock.now();
    const gate = this.#o.gate.current();
    const c = this.#counters;
    return {
      version: 1,
      nodeId: this.nodeId,
      state: this.#state,
      pid: process.pid,
      startedAt: this.#startedAt,
      updatedAt: now,
      uptimeMs: this.#startedAt === null ? 0 : now - this.#startedAt,
      activation: gate.state === 'active' ? { state: 'active' } : { state: gate.state, reason: gate.reason },
      tpm: this.#tpmInfo === null ? null : { manufacturer: this.#tpmInfo.manufacturer, vendor: this.#tpmInfo.vendor, firmwareVersion: this.#tpmInfo.firmwareVersion, sealingKey: this.#tpmInfo.sealingKey, ...(this.#selfTest === undefined ? {} : { selfTest: this.#selfTest }) },
      broker: brokerStatus(this.#o.transport.state, this.#o.transport.identity),
      chain: {
        height: this.#tip?.height ?? 0, tipHash: this.#tip === null ? '' : toHex(this.#tip.hash), finalizedHeight: this.#o.journal.finalizedHeight,
        paramsVersion: this.#o.network.current?.version ?? 0,
      },
      journal: { entries: this.#o.journal.entryCount, highestHeight: this.#o.journal.highestHeight },
      ...(this.#o.network.rootKeys == null ? {} : { rootKeys: this.#o.network.rootKeys.describe() }),
      seals: { ...c.seals },
      spins: { ...c.spins },
      spinning: this.#spins.size,
      rejected: { ...c.rejected },
      invalidMessages: { ...c.invalidMessages },
      lastErrors: c.lastErrors.map((e) => ({ ...e })),
      faults: this.#o.faults?.list() ?? [],
      ...(this.#o.eventLoop === undefined ? {} : { eventLoop: this.#o.eventLoop() }),
    };
  }

  /** The parameters in force; null until the node holds network terms. */
  get params(): NetworkParams | null {
    return this.#o.network.current?.params ?? null;
  }

  /** The candidates' cap for this payload's encoding under the manifest in force (transport: at most its ceiling). */
  #candidateCap(payload: Uint8Array): number {
    const params = this.#o.network.current?.params;
    return params === undefined ? Infinity : candidateCapFor(payload, chainParams(params).caps);
  }

  async #onCandidate(m: InboundMessage<Uint8Array>): Promise<void> {
    if (this.#state !== 'running') return;
    const receivedAt = this.#clock.now();
    const terms = this.#o.network.current;
    const tip = this.#tip;
    if (terms === null || tip === null) {
      this.#heldCandidate = m;
      return this.#reject(undefined, 'no-manifest', 'no network manifest yet: candidates cannot be checked (the newest is checked once one arrives)');
    }
    const params = terms.params;
    const intake = await takeCandidate(m.value, {
      primaries: terms.primaries, tip, now: () => this.#clock.now(), params: chainParams(params), ...(this.#o.verifier ? { verifier: this.#o.verifier } : {}),
    }, { transport: this.#o.transport, topics: this.#o.topics, clock: this.#clock, onFetch: (hash) => this.emit('body-fetch', hash) });
    if (!intake.ok) return this.#reject(intake.height, intake.code, intake.message, intake.reason);
    const { height, testBlock } = intake.candidate;
    if (this.#state !== 'running') return;
    const blockHash = intake.candidate.hash;
    const hash = toHex(blockHash);
    const clerk = keyFingerprint(intake.candidate.clerkPublicKey);
    const slot = `${height}/${clerk}`;
    const taken = this.#slots.get(slot);
    if (taken === hash) {
      this.#log.debug({ height, hash: hash.slice(0, 16) }, 'candidate already taken up');
      return;
    }
    // A re-drawn block at this (height, clerk): the clerk gave up the earlier one, so its spin
    // stops; the journal lets the new block take the slot unless the earlier one was sealed.
    if (taken !== undefined) for (const s of this.#spins) if (s.height === height && s.hash === taken) s.controller.abort('re-drawn');
    this.#slots.set(slot, hash);
    // The chain moved on: spins for lower heights are superseded.
    for (const s of this.#spins) if (s.height < height) s.controller.abort('superseded');
    this.#watchSeals(clerk);
    const spin: Spin = { height, hash, controller: new AbortController() };
    this.#spins.add(spin);
    let outcome: SpinOutcome;
    const tried = { bestZeros: null as number | null, signMs: 0 };
    try {
      outcome = await this.#engine.spin({
        height, clerk, blockHash, receivedAt, params, signal: spin.controller.signal, bestSeen: () => this.#best.get(hash),
        onRound: (_round, zeros, ms) => { tried.bestZeros = Math.max(tried.bestZeros ?? 0, zeros); tried.signMs += ms; },
        ...(testBlock === undefined ? {} : { testBlock: testBlock(spin.controller.signal, receivedAt + params.sealDeadlineMs) }),
      });
    } finally {
      this.#spins.delete(spin);
    }
    this.#counters.spins[outcome.outcome]++;
    this.emit('spin', { height, hash, outcome, zerosNeeded: params.sealZeros, ...tried } satisfies SpinEvent);
    this.#log.info({ height, hash: hash.slice(0, 16), clerk: clerk.slice(0, 16), ...spinSummary(outcome) }, 'spin finished');
    switch (outcome.outcome) {
      case 'sealed':
        return this.#publishSeal(height, clerk, blockHash, receivedAt, params, outcome);
      case 'refused':
        return this.#reject(height, outcome.reason === 'untested' ? outcome.code : outcome.reason, outcome.message);
      case 'failed': // a journal that is down is a fault reported once, not an error per candidate
        return outcome.code === 'ERR_JOURNAL_UNAVAILABLE' ? this.#counters.reject('journal-unavailable') : this.#error(outcome.code, outcome.message);
      default:
        return;
    }
  }

  async #publishSeal(height: number, clerk: string, blockHash: Uint8Array, receivedAt: number, params: NetworkParams, o: Extract<SpinOutcome, { outcome: 'sealed' }>): Promise<void> {
    const gate = this.#o.gate.current();
    if (gate.state !== 'active') return; // revoked between the signature and now: say nothing
    if (o.reused) this.#counters.seals.reused++;
    else this.#counters.seals.made++;
    const seal: SealMessage = {
      nodeId: this.nodeId, height, blockHash, clerk, round: o.round, signature: o.signature,
      registration: gate.registration as Json | null, expiresAt: receivedAt + params.sealDeadlineMs,
    };
    this.emit('seal', { seal, zeros: o.zeros, reused: o.reused } satisfies SealEvent);
    const delivered = await this.#o.transport.publishSeal(clerk, encodeSealMessage(seal), seal.expiresAt, this.nodeId);
    if (delivered === 'delivered') this.#counters.seals.published++;
    else {
      this.#counters.seals.notDelivered++;
      this.#log.warn({ height, outcome: delivered }, 'seal not delivered');
    }
  }

  async #onFinal(m: InboundMessage<FinalMessage>): Promise<void> {
    if (this.#state !== 'running') return;
    const f = m.value;
    const committee = this.#o.network.current?.committee ?? null;
    if (committee === null || this.#tip === null) {
      if (this.#o.network.current === null && (this.#heldFinal === null || this.#heldFinal.value.height < f.height)) this.#heldFinal = m;
      return this.#invalid('final-unverifiable', new Error('no committee to check the votes against (no network manifest yet, or a pinned network without one)'));
    }
    if (f.height < this.#tip.height || (f.height === this.#tip.height && toHex(f.hash) === toHex(this.#tip.hash))) return;
    // The votes, not the publisher, make a block final: the cheap checks first, then at most
    // one Ed25519 verification per committee member.
    try {
      verifyQuorum(committee, f, f.votes);
    } catch (err) {
      if (err instanceof QuorumError) return this.#invalid(`final-${err.reason}`, err);
      throw err;
    }
    this.#tip = { hash: f.hash, height: f.height, timestamp: f.timestamp };
    for (const s of this.#spins) if (s.height <= f.height) s.controller.abort('final');
    for (const [slot] of this.#slots) if (Number(slot.slice(0, slot.indexOf('/'))) <= f.height) this.#slots.delete(slot);
    this.#best.clear();
    try {
      await this.#o.journal.setFinalized(f.height);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ERR_AGENT_JOURNAL';
      if (code !== 'ERR_JOURNAL_UNAVAILABLE') this.#error(code, `journal setFinalized(${f.height}): ${(err as Error).message}`);
    }
    this.#log.info({ height: f.height, hash: toHex(f.hash).slice(0, 16) }, 'final block');
    this.emit('final', f);
  }

  async #onManifest(raw: SignedManifest): Promise<void> {
    const offered = await this.#o.network.offer(raw, 'broker');
    // A refused manifest changes nothing; it is counted like any other invalid message.
    if (offered.outcome === 'refused') this.#invalid(`manifest-${MANIFEST_REFUSALS[offered.code] ?? offered.code}`, new Error(offered.message));
  }

  #onTerms(t: NetworkTerms): void {
    // The first terms bring the genesis; later ones change params, primaries and the committee only.
    this.#tip ??= t.genesis;
    this.#log.info({ version: t.version, sealZeros: t.params.sealZeros, committee: t.committee?.size ?? 0 }, 'network terms in force');
    this.#checkCeiling(t);
    const [final, candidate] = [this.#heldFinal, this.#heldCandidate];
    this.#heldFinal = this.#heldCandidate = null;
    // The final first: the candidate may build on it.
    void this.#track((async () => {
      if (final !== null) await this.#onFinal(final);
      if (candidate !== null) await this.#onCandidate(candidate);
    })());
  }

  /** Says once per manifest when its blocks can be larger than this device takes in one message. */
  #checkCeiling(t: NetworkTerms): void {
    const problem = ceilingProblem(t, this.#o.transport.inboundCeiling);
    if (problem === null || this.#ceilingWarned === t.version) return;
    this.#ceilingWarned = t.version;
    this.#log.error(problem.fields, problem.message);
  }

  #watchSeals(clerk: string): void {
    if (this.#sealSubs.has(clerk)) return;
    const unsubscribe = this.#o.transport.subscribe(this.#o.topics.seals(clerk), (m) => {
      const seal = m.value;
      if (seal.nodeId === this.nodeId || seal.clerk !== clerk) return;
      // The topic names the publisher (the broker pins it); a seal under another node's name is refused.
      if (sealSender(this.#o.topics.prefix, m.topic) !== seal.nodeId) return this.#counters.invalid('seal-wrong-sender');
      const params = this.#o.network.current?.params;
      if (params === undefined) return;
      const judged = competingSeal(seal, params.sealZeros, this.#o.sealAuthority);
      if (!judged.ok) {
        // A ticket below the threshold is ordinary traffic; anything else is a refused seal.
        if (judged.reason.code !== 'low-zeros') this.#counters.invalid(`seal-${judged.reason.code}`);
        return;
      }
      const score = judged.score;
      // Only seals for the same block hash compete (a seal for another block says nothing).
      const hash = toHex(seal.blockHash);
      this.emit('rival-seal', { hash, nodeId: seal.nodeId, round: score.round } satisfies RivalSealEvent);
      const best = this.#best.get(hash);
      if (best === undefined || comparePriority(score, best) < 0) this.#best.set(hash, score);
    }, { qos: 1, schema: sealMessage, onInvalid: (err) => this.#invalid('seal', err) });
    this.#sealSubs.set(clerk, unsubscribe);
  }

  #track(p: Promise<void>): Promise<void> {
    const tracked = p.catch((err: unknown) => this.#error((err as { code?: string }).code ?? 'ERR_AGENT_INTERNAL', (err as Error)?.message ?? String(err)));
    this.#inflight.add(tracked);
    void tracked.finally(() => this.#inflight.delete(tracked));
    return tracked;
  }

  #reject(height: number | undefined, code: string, message: string, reason?: RejectReason): void {
    this.#counters.reject(code);
    this.#log.warn({ height, code, reason: message, ...(reason ? { data: reason.data } : {}) }, 'candidate rejected');
    this.emit('rejected', { ...(height === undefined ? {} : { height }), code, message } satisfies RejectedEvent);
  }

  #invalid(kind: string, err: unknown): void {
    this.#counters.invalid(kind);
    this.#log.warn({ kind, reason: (err as Error)?.message ?? String(err) }, 'invalid message dropped');
  }

  #error(code: string, message: string): void {
    this.#counters.error(this.#clock.now(), code, message);
    this.#log.error({ code, err: message }, 'agent error');
    // An 'error' event without a listener would throw out of the process.
    if (this.listenerCount('error') > 0) this.emit('error', new AgentError('ERR_AGENT_RUNTIME', message, { code }));
  }

  #publishStatus(): void {
    if (this.#state !== 'running' || this.#o.transport.state === 'closed') return;
    const s = this.status();
    void this.#o.transport.publish(this.#o.topics.status(this.nodeId), statusMessageOf(s, PROCESS_USER), { qos: 1, retain: true }).catch(() => undefined);
  }

  async #writeStatus(): Promise<void> {
    if (this.#o.stateDir === undefined) return;
    if (this.#o.faults) return writeStatusReported(this.#o.stateDir, this.status(), this.#o.faults);
    await writeStatusFile(this.#o.stateDir, this.status()).catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'status file not written'));
  }

}

export function createAgent(options: AgentOptions): SecondaryAgent {
  return new SecondaryAgent(options);
}
