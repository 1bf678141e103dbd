// A discrete-event simulation of one network (docs/simulation.md): N secondary nodes, a committee
// of P primaries (clerks), K blocks. Per height it runs the protocol's own rules: the clerk draw
// in time-paced rounds, the candidate fanned out through the broker, every node spinning its
// rounds no earlier than r x spinIntervalMs after the candidate reached it (a slow signer runs
// the rounds it is owed back to back) and stopping once it knows of a seal from an earlier round,
// the deadline, the clerks' seal check, the vote window of one spin interval after the first
// valid seal, priority order for the winner, and a quorum of the committee's votes for the final
// block. Zero bits, thresholds and priority come from firmware/protocol/chain/lottery.ts; the only
// substitution is the ticket (stand-in-ticket.ts). Two designs are modelled: the full block to
// every node, or its header to every node and the body only to the nodes whose ticket qualified.
import { createHash } from 'node:crypto';
import { leadingZeroBits } from '../core/bytes.ts';
import { comparePriority, qualifies, thresholdFor, type TicketScore } from '../protocol/chain/lottery.ts';
import { defaultQuorum } from '../protocol/quorum.ts';
import { logNormal, Random, type DurationDistribution } from './random.ts';
import { hashWords, standInBytes, standInTicket, standInZeros } from './stand-in-ticket.ts';
import type { MessageSizes } from './message-sizes.ts';

export type Design = 'full' | 'header-first';

export interface SimulationOptions {
  readonly nodes: number;
  readonly blocks: number;
  /** Committee members, who are also the clerks that draw. */
  readonly primaries: number;
  /** Seal threshold m: fixed, or floor(log2(N / k)) for this target of qualifiers per block. */
  readonly sealZeros: { readonly fixed: number } | { readonly k: number };
  readonly spinIntervalMs: number;
  readonly maxRounds: number;
  readonly sealDeadlineMs: number;
  /** One TPM signature (nodes and clerks). */
  readonly tpm: DurationDistribution;
  /** One way between a client and the broker. */
  readonly latency: DurationDistribution;
  /** A node's check of a full candidate before it signs (ids, Merkle root, signatures), ms. */
  readonly verifyMs: number;
  readonly design: Design;
  readonly sizes: MessageSizes;
  readonly seed: string;
  /** Called after each block (progress). */
  readonly onBlock?: (record: BlockRecord) => void;
}

export interface Traffic {
  readonly candidate: number;
  readonly body: number;
  readonly seals: number;
  readonly votes: number;
  readonly final: number;
}

export interface BlockRecord {
  readonly height: number;
  readonly attempts: number;
  /** Seals published (qualifying tickets whose seal went out before the deadline). */
  readonly seals: number;
  /** Seals the clerks took inside the vote window. */
  readonly sealsAccepted: number;
  readonly signatures: number;
  readonly messagesIn: Traffic;
  readonly messagesOut: Traffic;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly msToFinal: number;
  readonly winner: number;
  readonly winnerRound: number;
}

export interface SimulationResult {
  readonly sealZeros: number;
  readonly clerkZeros: number;
  readonly quorum: number;
  readonly blocks: readonly BlockRecord[];
  /** Wins per node (index = node). */
  readonly wins: Uint32Array;
}

export const MAX_SIM_NODES = 2_000_000;
export const MAX_SIM_BLOCKS = 100_000;
const MAX_ATTEMPTS = 5;

interface Seal {
  readonly node: number;
  readonly round: number;
  readonly hi: number;
  readonly lo: number;
  /** When it reached the broker (ms of simulated time). */
  readonly at: number;
}

export function simulate(o: SimulationOptions): SimulationResult {
  const n = o.nodes;
  const p = o.primaries;
  if (!Number.isInteger(n) || n < 1 || n > MAX_SIM_NODES) throw new RangeError(`nodes must be an integer in 1..${MAX_SIM_NODES}, got ${n}`);
  if (!Number.isInteger(o.blocks) || o.blocks < 1 || o.blocks > MAX_SIM_BLOCKS) throw new RangeError(`blocks must be an integer in 1..${MAX_SIM_BLOCKS}, got ${o.blocks}`);
  if (!Number.isInteger(p) || p < 1 || p > 1024) throw new RangeError(`primaries must be an integer in 1..1024, got ${p}`);
  const m = 'fixed' in o.sealZeros ? o.sealZeros.fixed : thresholdFor(n, o.sealZeros.k);
  const clerkZeros = thresholdFor(p, 2);
  const quorum = defaultQuorum(p);
  const rng = new Random(o.seed);
  const tpm = logNormal(o.tpm, rng);
  const lat = logNormal(o.latency, rng);
  const keys = new Uint32Array(2 * n);
  for (let i = 0; i < keys.length; i++) keys[i] = rng.u32();
  const clerkKeys = new Uint32Array(2 * p);
  for (let i = 0; i < clerkKeys.length; i++) clerkKeys[i] = rng.u32();
  const wins = new Uint32Array(n);
  const arrival = new Float64Array(n);
  const done = new Float64Array(n);
  let active = new Int32Array(n);
  let next = new Int32Array(n);
  const t2 = new Uint32Array(2);
  const headerFirst = o.design === 'header-first';
  const s = o.sizes;

  let now = 0;
  let prevHash: Uint8Array = new Uint8Array(createHash('sha256').update(`genesis/${o.seed}`).digest());
  const records: BlockRecord[] = [];
  for (let height = 1; height <= o.blocks; height++) {
    const start = now;
    let signatures = 0;
    const inn = { candidate: 0, body: 0, seals: 0, votes: 0, final: 0 };
    const out = { candidate: 0, body: 0, seals: 0, votes: 0, final: 0 };
    let bytesIn = 0;
    let bytesOut = 0;
    let firstRound = 0;
    let outcome: { winner: Seal; accepted: number; finalAt: number; hash: Uint8Array } | null = null;
    let attempts = 0;
    while (outcome === null) {
      attempts++;
      if (attempts > MAX_ATTEMPTS) throw new Error(`height ${height} did not become final in ${MAX_ATTEMPTS} attempts (threshold ${m} bits for ${n} nodes)`);
      // The clerk draw: the clerks sign the previous hash, round by round, paced by the clock.
      const [h0, h1] = hashWords(prevHash);
      let draw: { clerk: number; round: number; at: number } | null = null;
      for (let rr = 0; rr < o.maxRounds && draw === null; rr++) {
        const round = firstRound + rr;
        let best: { clerk: number; score: TicketScore } | null = null;
        for (let c = 0; c < p; c++) {
          standInTicket(clerkKeys[2 * c]!, clerkKeys[2 * c + 1]!, h0, h1, round, t2);
          const score = { round, zeros: standInZeros(t2[0]!, t2[1]!), ticket: standInBytes(t2[0]!, t2[1]!) };
          if (qualifies(score.zeros, clerkZeros) && (best === null || comparePriority(score, best.score) < 0)) best = { clerk: c, score };
        }
        if (best !== null) draw = { clerk: best.clerk, round, at: now + rr * o.spinIntervalMs + tpm() };
      }
      if (draw === null) {
        now += o.maxRounds * o.spinIntervalMs;
        firstRound += o.maxRounds;
        continue;
      }
      const tc = draw.at + lat();
      const hash = new Uint8Array(createHash('sha256').update(prevHash).update(`${height}/${attempts}/${draw.clerk}`).digest());
      const [b0, b1] = hashWords(hash);
      inn.candidate++;
      bytesIn += headerFirst ? s.header : s.candidate;
      out.candidate += n;
      bytesOut += n * (headerFirst ? s.header : s.candidate);
      if (headerFirst) {
        // The body goes to the broker once (retained, per block), and out to each qualifier that asks.
        inn.body++;
        bytesIn += s.body;
      }
      const deadline = tc + o.sealDeadlineMs;
      for (let i = 0; i < n; i++) {
        arrival[i] = tc + lat();
        // Full design: the node tests the block before its first signature; header-first tests it only if it qualifies.
        done[i] = arrival[i]! + (headerFirst ? 0 : o.verifyMs);
        active[i] = i;
      }
      let count = n;
      const seals: Seal[] = [];
      for (let r = 0; r < o.maxRounds && count > 0; r++) {
        // What a node can know before round r: the earliest seal of an earlier round, at the broker.
        let earliest = Infinity;
        for (const x of seals) if (x.round < r && x.at < earliest) earliest = x.at;
        let kept = 0;
        for (let j = 0; j < count; j++) {
          const i = active[j]!;
          const a = arrival[i]!;
          const ready = a + (headerFirst ? 0 : o.verifyMs) + r * o.spinIntervalMs;
          const begin = ready > done[i]! ? ready : done[i]!;
          if (begin > a + o.sealDeadlineMs) continue;
          // A seal of an earlier round reaches the node as the candidate did (broker to node).
          if (earliest + (a - tc) <= begin) continue;
          const finished = begin + tpm();
          done[i] = finished;
          signatures++;
          standInTicket(keys[2 * i]!, keys[2 * i + 1]!, b0, b1, r, t2);
          if (!qualifies(standInZeros(t2[0]!, t2[1]!), m)) {
            next[kept++] = i;
            continue;
          }
          // It seals only a block it tested in full: header-first fetches the body first.
          const publish = headerFirst ? finished + lat() + lat() + o.verifyMs : finished;
          if (headerFirst) {
            out.body++;
            bytesOut += s.body;
          }
          if (publish > a + o.sealDeadlineMs) continue;
          seals.push({ node: i, round: r, hi: t2[0]!, lo: t2[1]!, at: publish + lat() });
        }
        [active, next] = [next, active];
        count = kept;
      }
      inn.seals += seals.length;
      bytesIn += seals.length * s.seal;
      // Every node and clerk follows the seals (a node stops on an earlier round's seal).
      out.seals += seals.length * (n + p);
      bytesOut += seals.length * (n + p) * s.seal;
      // The clerks' seal check: the ticket recomputed and counted by the lottery's own functions.
      const valid = seals.filter((x) => x.at <= deadline && x.round < firstRound + o.maxRounds && qualifies(leadingZeroBits(standInBytes(x.hi, x.lo)), m));
      if (valid.length === 0) {
        now = deadline;
        firstRound = draw.round + 1;
        continue;
      }
      const first = Math.min(...valid.map((x) => x.at));
      const close = Math.min(first + o.spinIntervalMs, deadline);
      const accepted = valid.filter((x) => x.at <= close);
      const score = (x: Seal): TicketScore => ({ round: x.round, zeros: standInZeros(x.hi, x.lo), ticket: standInBytes(x.hi, x.lo) });
      const winner = accepted.reduce((b, x) => (comparePriority(score(x), score(b)) < 0 ? x : b));
      // Each member publishes its vote; the final goes out once a quorum of votes is in.
      const voteTimes = Array.from({ length: p }, () => close + lat() + lat()).sort((x, y) => x - y);
      inn.votes += p;
      bytesIn += p * s.vote;
      out.votes += p * p;
      bytesOut += p * p * s.vote;
      inn.final++;
      bytesIn += s.final;
      out.final += n + p;
      bytesOut += (n + p) * s.final;
      outcome = { winner, accepted: accepted.length, finalAt: voteTimes[quorum - 1]! + lat(), hash };
    }
    wins[outcome.winner.node]!++;
    now = outcome.finalAt;
    prevHash = outcome.hash;
    const record: BlockRecord = {
      height, attempts, seals: inn.seals, sealsAccepted: outcome.accepted, signatures, messagesIn: inn, messagesOut: out,
      bytesIn, bytesOut, msToFinal: now - start, winner: outcome.winner.node, winnerRound: outcome.winner.round,
    };
    records.push(record);
    o.onBlock?.(record);
  }
  return { sealZeros: m, clerkZeros, quorum, blocks: records, wins };
}

/** All messages of one record's traffic. */
export function trafficTotal(t: Traffic): number {
  return t.candidate + t.body + t.seals + t.votes + t.final;
}
