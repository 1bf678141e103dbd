// The reference primary node of the devnet (docs/protocol.md): clerks draw in time-paced rounds,
// the winner broadcasts a candidate block, secondary nodes seal it, the committee votes for the
// sealed block of best priority and, with a quorum, declares it final (third state).
//
// Per height: draw (round r no earlier than r x spinIntervalMs after the attempt began) ->
// candidate (retained on topics.candidates, so a node that subscribes late still gets it) ->
// seals on topics.seals(clerk) checked by firmware/protocol/seal-check.ts -> after the first valid seal, a vote
// window of one spin interval for competing seals -> committee vote, each member signing its own
// vote -> FinalMessage with the verified votes (retained on topics.final). No valid seal by
// sealDeadlineMs: redraw from the next draw round. At start the root-signed network manifest
// (params, the clerks' keys, the committee and its quorum, genesis) goes out retained on
// topics.manifest: the only source of those terms a node trusts.
import { createHash } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { sealSender } from '../protocol/topics.ts';
import { blockHash, type Block } from '../protocol/chain/block.ts';
import { CandidatePublisher } from './candidate-publisher.ts';
import { createBlock } from '../protocol/chain/build.ts';
import { toHex } from '../core/bytes.ts';
import { comparePriority, MAX_ROUND } from '../protocol/chain/lottery.ts';
import type { PrimaryKeySet } from '../protocol/chain/primaries.ts';
import type { NetworkManifest, SignedManifest } from '../protocol/network-manifest.ts';
import { verifyQuorum, type Committee, type VotedBlock } from '../protocol/quorum.ts';
import type { ChainTip } from '../protocol/chain/validate.ts';
import { encodeFinalMessage } from '../protocol/final-message.ts';
import type { NetworkParams } from '../protocol/params.ts';
import type { DropEvent } from '../transport/mqtt-types.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import type { FinalBlockRecord, PrimaryNodeOptions, PrimaryStats } from './primary-types.ts';
import { drawRound, type Clerk, type Draw } from './clerks.ts';
import { castVotes, CommitteeVoting } from './committee.ts';
import { clerksNetwork, publicKeyPem, type NetworkKeys } from './network-keys.ts';
import { DevnetError } from './errors.ts';
import { checkParsedSeal, SEAL_REJECT_CODES, type AcceptedSeal, type SealRejectCode } from '../protocol/seal-check.ts';
import { sealMessage, type SealMessage } from '../protocol/seal-message.ts';

export type { FinalBlockRecord, PrimaryEvent, PrimaryNodeOptions, PrimaryStats, PrimaryTransport, SealRecord } from './primary-types.ts';

interface OpenCandidate {
  readonly height: number;
  readonly hash: Uint8Array;
  readonly block: Block;
  readonly clerk: string;
  readonly publishedAt: number;
  readonly sealedBy: Set<string>;
  readonly accepted: AcceptedSeal[];
  /** Called on the first valid seal. */
  onFirstSeal: (() => void) | null;
}

/** The network name a devnet's manifest and votes carry unless told otherwise. */
export const DEFAULT_NETWORK = 'devnet';

export class PrimaryNode {
  readonly params: NetworkParams;
  readonly clerks: readonly Clerk[];
  /** The root key and the members' vote keys; `keys.source` is what a node of this network trusts. */
  readonly keys: NetworkKeys;
  /** The root-signed manifest published retained on topics.manifest. */
  readonly manifest: SignedManifest;
  /** The committee as the manifest names it: the votes of a final block are checked against it. */
  readonly committee: Committee;
  /** What secondary nodes must trust candidates from (the manifest's primaries). */
  readonly primaries: PrimaryKeySet;
  readonly #voting: CommitteeVoting;
  /** vote public key (hex) -> the clerk that holds it. */
  readonly #members: ReadonlyMap<string, Clerk>;
  readonly #o: PrimaryNodeOptions;
  readonly #log: Logger;
  readonly #clock: Pick<Clock, 'now' | 'setTimer'>;
  readonly #abort = new AbortController();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #stats: PrimaryStats = {
    candidates: 0, redraws: 0, finals: 0, sealsAccepted: 0, votesRejected: 0,
    sealsRejected: Object.fromEntries(SEAL_REJECT_CODES.map((c) => [c, 0])) as Record<SealRejectCode, number>,
  };
  readonly #publisher: CandidatePublisher;
  #tip: ChainTip & { readonly timestamp: number };
  #open: OpenCandidate | null = null;
  #started = false;

  constructor(options: PrimaryNodeOptions) {
    const { params, clerks } = options;
    if (!Array.isArray(clerks) || clerks.length === 0) throw new DevnetError('ERR_DEVNET_OPTIONS', 'a primary node needs at least one clerk');
    if (!(options.genesis?.hash instanceof Uint8Array) || options.genesis.hash.length !== 32) throw new DevnetError('ERR_DEVNET_OPTIONS', 'genesis.hash must be 32 bytes');
    const tx = options.txPerBlock ?? 4;
    if (!Number.isInteger(tx) || tx < 0 || tx > params.maxBlockTxs) throw new DevnetError('ERR_DEVNET_OPTIONS', `txPerBlock must be an integer in 0..${params.maxBlockTxs}`);
    const attempts = options.maxAttempts ?? 5;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1000) throw new DevnetError('ERR_DEVNET_OPTIONS', 'maxAttempts must be an integer in 1..1000');
    this.#o = options;
    this.params = params;
    this.clerks = clerks;
    let terms: NetworkManifest;
    try {
      ({ keys: this.keys, manifest: this.manifest, terms } = clerksNetwork({
        network: options.network ?? DEFAULT_NETWORK, clerks, params, genesis: options.genesis,
        ...(options.quorum === undefined ? {} : { quorum: options.quorum }), ...(options.root === undefined ? {} : { root: options.root }),
      }));
    } catch (cause) {
      throw new DevnetError('ERR_DEVNET_OPTIONS', `the network manifest: ${(cause as Error).message}`, {}, { cause });
    }
    this.committee = terms.committee;
    this.primaries = terms.primaries;
    this.#voting = new CommitteeVoting(terms.committee);
    this.#members = new Map(clerks.map((c) => [toHex(c.voteKey.publicKey), c]));
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'devnet-primary' });
    this.#clock = options.clock ?? systemClock;
    this.#tip = options.genesis;
    this.#publisher = new CandidatePublisher({ transport: options.transport, topics: options.topics, params, log: this.#log, ...(options.candidateEncoding === undefined ? {} : { encoding: options.candidateEncoding }) });
  }

  get tip(): ChainTip & { readonly timestamp: number } {
    return this.#tip;
  }

  stats(): PrimaryStats {
    return { ...this.#stats, sealsRejected: { ...this.#stats.sealsRejected } };
  }

  /** Subscribes to every clerk's seal topic and publishes the signed network manifest (retained). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const { transport, topics } = this.#o;
    for (const clerk of this.clerks) {
      this.#unsubscribe.push(transport.subscribe(topics.seals(clerk.fingerprint), (m) => this.#onSeal(clerk.fingerprint, m.value, sealSender(topics.prefix, m.topic)), { qos: 1, schema: sealMessage }));
    }
    if (typeof transport.on === 'function') {
      const onDrop = (e: DropEvent): void => this.#onDrop(e);
      transport.on('drop', onDrop);
      this.#unsubscribe.push(() => transport.off?.('drop', onDrop));
    }
    const outcome = await transport.publish(topics.manifest, JSON.stringify(this.manifest), { qos: 1, retain: true });
    if (outcome !== 'delivered') this.#log.warn({ outcome }, 'network manifest not delivered');
    this.#o.onEvent?.({ type: 'manifest', network: this.keys.network, rootPublicKey: this.keys.rootPublicKeyHex, manifest: this.manifest });
    this.#log.info({ network: this.keys.network, clerks: this.clerks.map((c) => c.fingerprint.slice(0, 16)), quorum: this.committee.quorum }, 'primary node started');
  }

  /**
   * Produces `blocks` final blocks (one height after another). Ends early, with the record of
   * final: false, when a height does not become final within maxAttempts. Rejects with
   * ERR_DEVNET_ABORTED on stop() or `signal`.
   */
  async produce(blocks: number, signal?: AbortSignal): Promise<FinalBlockRecord[]> {
    if (!this.#started) await this.start();
    if (!Number.isInteger(blocks) || blocks < 1) throw new DevnetError('ERR_DEVNET_OPTIONS', 'blocks must be a positive integer');
    const abort = signal === undefined ? this.#abort.signal : AbortSignal.any([this.#abort.signal, signal]);
    const out: FinalBlockRecord[] = [];
    for (let i = 0; i < blocks; i++) {
      const record = await this.#produceHeight(this.#tip.height + 1, abort);
      out.push(record);
      if (!record.final) break;
    }
    return out;
  }

  /** Stops producing (a pending produce() rejects), unsubscribes; clearRetained: deletes the retained candidate, final and manifest. */
  async stop(options: { clearRetained?: boolean } = {}): Promise<void> {
    this.#abort.abort();
    for (const u of this.#unsubscribe.splice(0)) u();
    this.#open = null;
    if (options.clearRetained ?? false) {
      const { transport, topics } = this.#o;
      // An empty retained payload deletes the retained message [MQTT-3.3.1-10].
      await Promise.all([topics.candidates, topics.final, topics.manifest].map((t) => transport.publish(t, '', { qos: 1, retain: true }).catch(() => 'rejected')));
    }
    await this.#publisher.retireAll();
  }

  async #produceHeight(height: number, signal: AbortSignal): Promise<FinalBlockRecord> {
    const { maxRounds, spinIntervalMs, sealDeadlineMs } = this.params;
    const started = this.#clock.now();
    const maxAttempts = this.#o.maxAttempts ?? 5;
    let firstRound = 0;
    let last: OpenCandidate | null = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const draw = await this.#draw(height, firstRound, attempt, signal);
      if (draw === undefined) {
        firstRound = Math.min(MAX_ROUND, firstRound + maxRounds);
        this.#redraw(height, attempt, `no clerk qualified in ${maxRounds} draw rounds`);
        continue;
      }
      const open = await this.#publishCandidate(height, draw, attempt);
      last = open;
      let outcome: 'vote' | 'deadline';
      try {
        outcome = await this.#collect(open, spinIntervalMs, sealDeadlineMs, signal);
        if (outcome === 'vote') {
          const record = await this.#vote(open, started, attempt);
          if (record !== null) return record;
        }
      } finally {
        // Final (its final message is out) or given up: its body, if any, is no longer served.
        await this.#publisher.retire(open.hash);
      }
      this.#open = null;
      firstRound = Math.min(MAX_ROUND, draw.round + 1);
      this.#redraw(height, attempt, outcome === 'vote' ? 'no quorum' : `no valid seal within ${sealDeadlineMs} ms`);
    }
    this.#open = null;
    const record: FinalBlockRecord = {
      height,
      hash: last === null ? '' : toHex(last.hash),
      previousHash: toHex(this.#tip.hash),
      timestamp: last?.block.header.timestamp ?? 0,
      clerk: last?.clerk ?? '',
      drawRound: last?.block.header.drawRound ?? 0,
      final: false,
      msToFinal: this.#clock.now() - started,
      votes: [],
      quorum: this.committee.quorum,
      attempts: maxAttempts,
      txCount: last?.block.transactions.length ?? 0,
      seals: [],
    };
    this.#log.error({ height, attempts: maxAttempts }, 'height did not become final');
    this.#o.onEvent?.({ type: 'final', block: record });
    return record;
  }

  /** Time-paced draw rounds (docs/lottery.md): round firstRound + i no earlier than i x spinIntervalMs. */
  async #draw(height: number, firstRound: number, attempt: number, signal: AbortSignal): Promise<Draw | undefined> {
    const { maxRounds, spinIntervalMs, clerkZeros } = this.params;
    const began = this.#clock.now();
    for (let i = 0; i < maxRounds && firstRound + i <= MAX_ROUND; i++) {
      if (i > 0) await this.#sleepUntil(began + i * spinIntervalMs, signal);
      if (signal.aborted) throw aborted();
      const draw = drawRound(this.clerks, this.#tip.hash, firstRound + i, clerkZeros);
      if (draw !== undefined) {
        this.#log.debug({ height, clerk: draw.clerk.fingerprint.slice(0, 16), round: draw.round, zeros: draw.score.zeros }, 'clerk drawn');
        this.#o.onEvent?.({ type: 'draw', height, clerk: draw.clerk.fingerprint, round: draw.round, zeros: draw.score.zeros, attempt });
        return draw;
      }
    }
    return undefined;
  }

  async #publishCandidate(height: number, draw: Draw, attempt: number): Promise<OpenCandidate> {
    const now = this.#clock.now();
    const timestamp = Math.max(now, this.#tip.timestamp + 1);
    const txs = this.#o.transactions?.next(this.#o.txPerBlock ?? 4, Math.floor(timestamp / 1000)) ?? [];
    const block = createBlock({
      clerkKey: draw.clerk.key, height, previousHash: this.#tip.hash, timestamp, transactions: txs, drawRound: draw.round, drawSignature: draw.signature,
    });
    const hash = blockHash(block.header);
    const open: OpenCandidate = { height, hash, block, clerk: draw.clerk.fingerprint, publishedAt: now, sealedBy: new Set(), accepted: [], onFirstSeal: null };
    this.#open = open;
    this.#stats.candidates++;
    const hex = toHex(hash);
    this.#log.info({ height, hash: hex.slice(0, 16), clerk: open.clerk.slice(0, 16), drawRound: draw.round, txs: txs.length }, 'candidate');
    this.#o.onEvent?.({ type: 'candidate', height, hash: hex, clerk: open.clerk, drawRound: draw.round, txCount: txs.length, attempt });
    this.#publisher.publish(block, hash);
    return open;
  }

  /** Resolves 'vote' a vote window after the first valid seal, 'deadline' when none came in time. */
  #collect(open: OpenCandidate, voteWindowMs: number, deadlineMs: number, signal: AbortSignal): Promise<'vote' | 'deadline'> {
    return new Promise((resolve, reject) => {
      const cancels: (() => void)[] = [];
      const done = (fn: () => void): void => {
        for (const c of cancels) c();
        signal.removeEventListener('abort', onAbort);
        open.onFirstSeal = null;
        fn();
      };
      const onAbort = (): void => done(() => reject(aborted()));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      const deadline = open.publishedAt + deadlineMs;
      cancels.push(this.#clock.setTimer(() => done(() => resolve(open.accepted.length > 0 ? 'vote' : 'deadline')), Math.max(0, deadline - this.#clock.now())));
      const window = this.#o.voteWindowMs ?? voteWindowMs;
      const onFirst = (): void => {
        cancels.push(this.#clock.setTimer(() => done(() => resolve('vote')), Math.max(0, Math.min(window, deadline - this.#clock.now()))));
      };
      if (open.accepted.length > 0) onFirst();
      else open.onFirstSeal = onFirst;
    });
  }

  /**
   * Every clerk votes for the sealed block of best priority; each voter signs its vote with its own
   * key. With a quorum of votes that verify against the manifest's committee the block is final.
   */
  async #vote(open: OpenCandidate, started: number, attempt: number): Promise<FinalBlockRecord | null> {
    this.#open = null; // late seals now count as wrong-block / no-candidate
    const seals = [...open.accepted].sort((a, b) => comparePriority(a.score, b.score));
    const best = seals[0]!;
    const sealed = { height: open.height, hash: open.hash, clerk: open.clerk, best: best.score };
    // In this single process every clerk has seen the same checked seals.
    for (const member of this.committee.members) this.#voting.observe(member, sealed);
    const decision = this.#voting.decide(open.height);
    const hex = toHex(open.hash);
    const quorum = this.committee.quorum;
    if (!decision.final) {
      this.#o.onEvent?.({ type: 'vote', height: open.height, hash: hex, votes: decision.votes, quorum, voters: [] });
      return null;
    }
    const header = open.block.header;
    const voted: VotedBlock = { height: open.height, hash: open.hash, timestamp: header.timestamp };
    const { votes, rejected } = castVotes(this.committee, decision.voters, (m) => this.#members.get(m)!.voteKey, voted);
    for (const member of rejected) {
      this.#stats.votesRejected++;
      this.#log.warn({ height: open.height, member: member.slice(0, 16) }, 'vote does not verify: not counted');
      this.#o.onEvent?.({ type: 'vote-rejected', height: open.height, hash: hex, member });
    }
    this.#o.onEvent?.({ type: 'vote', height: open.height, hash: hex, votes: votes.length, quorum, voters: votes.map((v) => v.member) });
    try {
      // The check every node makes before it takes the final block.
      verifyQuorum(this.committee, voted, votes);
    } catch (err) {
      this.#log.warn({ height: open.height, hash: hex.slice(0, 16), err: (err as Error).message }, 'votes do not certify the block');
      // The attempt is given up: the members vote afresh on the redrawn block.
      this.#voting.prune(open.height);
      return null;
    }
    const sealedBy = seals.map((s) => s.seal.nodeId);
    const outcome = await this.#o.transport.publish(
      this.#o.topics.final,
      encodeFinalMessage({ height: open.height, hash: open.hash, timestamp: header.timestamp, clerk: open.clerk, sealedBy, votes }),
      { qos: 1, retain: true },
    );
    if (outcome !== 'delivered') this.#log.warn({ height: open.height, outcome }, 'final message not delivered');
    const record: FinalBlockRecord = {
      height: open.height,
      hash: hex,
      previousHash: toHex(header.previousHash),
      timestamp: header.timestamp,
      clerk: open.clerk,
      drawRound: header.drawRound,
      final: true,
      msToFinal: this.#clock.now() - started,
      votes,
      quorum,
      attempts: attempt,
      txCount: open.block.transactions.length,
      seals: seals.map((s) => ({ node: s.seal.nodeId, publicKeyPem: publicKeyPem(s.key), round: s.seal.round, signature: toHex(s.seal.signature), zeros: s.score.zeros })),
    };
    this.#tip = { hash: open.hash, height: open.height, timestamp: header.timestamp };
    this.#voting.prune(open.height);
    this.#stats.finals++;
    this.#log.info({ height: record.height, hash: hex.slice(0, 16), seals: seals.length, votes: votes.length, msToFinal: record.msToFinal }, 'final');
    this.#o.onEvent?.({ type: 'final', block: record });
    return record;
  }

  #onSeal(clerk: string, received: SealMessage, sender: string | null): void {
    const open = this.#open;
    const check = checkParsedSeal(received, { clerk, sender, candidate: open, sealZeros: this.params.sealZeros, authority: this.#o.authority, now: this.#clock.now() });
    if (!check.ok) {
      this.#stats.sealsRejected[check.reason.code]++;
      this.#log.debug({ clerk: clerk.slice(0, 16), ...check.reason }, 'seal rejected');
      this.#o.onEvent?.({ type: 'seal-rejected', clerk, code: check.reason.code, message: check.reason.message, ...(check.reason.nodeId === undefined ? {} : { node: check.reason.nodeId }) });
      return;
    }
    // checkParsedSeal only accepts a seal for the open candidate, so `open` is set here.
    const { seal, score } = check.accepted;
    open!.sealedBy.add(seal.nodeId);
    open!.accepted.push(check.accepted);
    this.#stats.sealsAccepted++;
    this.#log.debug({ height: seal.height, node: seal.nodeId, round: seal.round, zeros: score.zeros }, 'seal accepted');
    this.#o.onEvent?.({ type: 'seal', height: seal.height, hash: toHex(seal.blockHash), node: seal.nodeId, round: seal.round, zeros: score.zeros, msAfterCandidate: this.#clock.now() - open!.publishedAt });
    if (open!.accepted.length === 1) open!.onFirstSeal?.();
  }

  /** A seal the transport dropped before parsing (not JSON, oversize, expired) is counted like one the verifier rejects. */
  #onDrop(e: DropEvent): void {
    const prefix = `${this.#o.topics.prefix}/seals/`;
    if (!e.topic.startsWith(prefix)) return;
    const code: SealRejectCode | null = e.reason === 'expired' ? 'expired' : e.reason === 'malformed-json' || e.reason === 'invalid-utf8' || e.reason === 'oversize' || e.reason === 'invalid' ? 'malformed' : null;
    if (code === null) return;
    const clerk = e.topic.slice(prefix.length).split('/')[0]!;
    this.#stats.sealsRejected[code]++;
    this.#log.debug({ clerk: clerk.slice(0, 16), code, detail: e.detail }, 'seal dropped by the transport');
    this.#o.onEvent?.({ type: 'seal-rejected', clerk, code, message: `${e.reason}: ${e.detail}` });
  }

  #redraw(height: number, attempt: number, reason: string): void {
    this.#stats.redraws++;
    this.#log.warn({ height, attempt, reason }, 'redraw');
    this.#o.onEvent?.({ type: 'redraw', height, attempt, reason });
  }

  #sleepUntil(at: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => { cancel(); resolve(); };
      const cancel = this.#clock.setTimer(() => { signal.removeEventListener('abort', onAbort); resolve(); }, Math.max(0, at - this.#clock.now()));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The devnet's genesis: a fixed hash derived from a label, height 0. */
export function genesisTip(label: string, timestamp: number): ChainTip & { readonly timestamp: number } {
  return { hash: new Uint8Array(createHash('sha256').update(`btn-devnet-genesis/${label}`).digest()), height: 0, timestamp };
}

function aborted(): DevnetError {
  return new DevnetError('ERR_DEVNET_ABORTED', 'the primary node was stopped');
}
