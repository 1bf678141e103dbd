// Final blocks' quorum certificates: what a node spends to check one, for committees of 7, 21 and
// 100 members (quorum floor(2n/3)+1), beside the cost of validating one candidate block (of one
// transaction, as most candidates are, and of 100) measured in the same run, so the check is seen
// not to be the candidate pipeline's bottleneck. Also the worst case an attacker can make a node pay per
// forged final: as many votes as members, every signature bad.
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createBlock, createTransaction, DEFAULT_CHAIN_PARAMS, keyPairFromSeed, PrimaryKeySet, validateCandidate } from '../../firmware/protocol/chain/index.ts';
import { Committee, defaultQuorum, QuorumError, signVote, verifyQuorum, type Vote } from '../../firmware/protocol/quorum.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const seed = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());
const r3 = (n: number): number => Number(n.toPrecision(4));

/** Median µs per call over `rounds` rounds of `per` calls. */
async function microseconds(rounds: number, per: number, fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < per; i++) await fn();
    times.push(((performance.now() - start) * 1000) / per);
  }
  return median(times);
}

export const run: BenchSuite = async (report, { quick }) => {
  const rounds = quick ? 3 : 9;
  // Candidates validated inline, as the agent receives them: of one transaction (most candidates,
  // and the cheapest: the baseline a final competes with) and of 100 (the agent bench's other size).
  const clerkKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const previousHash = seed('quorum bench tip');
  const now = 1_700_000_000_000;
  const senders = Array.from({ length: 64 }, (_, i) => keyPairFromSeed(seed(`sender ${i}`)));
  const txs = Array.from({ length: 100 }, (_, i) =>
    createTransaction(senders[i % senders.length]!, { timestamp: 1_700_000_000 + i, recipientId: String(i + 1), amount: BigInt(i + 1), fee: 10n }));
  const ctx = { primaries: new PrimaryKeySet([createPublicKey(clerkKey)]), tip: { hash: previousHash, height: 9 }, now: () => now, params: DEFAULT_CHAIN_PARAMS };
  const validation = async (n: number, per: number): Promise<number> => {
    const block = createBlock({ clerkKey, height: 10, previousHash, timestamp: now, drawRound: 0, transactions: txs.slice(0, n) });
    return microseconds(rounds, per, async () => {
      const r = await validateCandidate(block, ctx);
      if (!r.ok) throw new Error(`validation failed: ${r.reason.code}`);
    });
  };
  const candidate = await validation(1, quick ? 20 : 100);
  report({ name: 'quorum baseline: validate one 1-tx candidate', value: r3(candidate), unit: 'µs' });
  const candidate100 = await validation(100, quick ? 3 : 10);
  report(withBaseline('quorum baseline: validate one 100-tx candidate', r3(candidate100), 'µs', 'validate one 1-tx candidate', r3(candidate)));

  const voted = { height: 42, hash: seed('final block'), timestamp: now };
  for (const size of [7, 21, 100]) {
    const members = Array.from({ length: size }, (_, i) => keyPairFromSeed(seed(`member ${size}/${i}`)));
    const quorum = defaultQuorum(size);
    const committee = new Committee('benchnet', members.map((m) => m.publicKey), quorum);
    const votes: Vote[] = members.map((m) => signVote(m.privateKey, m.publicKey, 'benchnet', voted));
    const honest = await microseconds(rounds, quick ? 20 : 100, () => verifyQuorum(committee, voted, votes));
    report(withBaseline(`quorum verify ${size} members (quorum ${quorum}), valid`, r3(honest), 'µs', 'validate one 1-tx candidate', r3(candidate)));
    // Every signature a valid one for another block: all pass the cheap checks, none verifies.
    const other = { ...voted, hash: seed('another block') };
    const forged: Vote[] = members.map((m) => signVote(m.privateKey, m.publicKey, 'benchnet', other));
    const worst = await microseconds(rounds, quick ? 10 : 50, () => {
      try {
        verifyQuorum(committee, voted, forged);
        throw new Error('a forged certificate verified');
      } catch (err) {
        if (!(err instanceof QuorumError)) throw err;
      }
    });
    report(withBaseline(`quorum refuse a forged final, ${size} bad votes`, r3(worst), 'µs', 'validate one 1-tx candidate', r3(candidate)));
  }
};
