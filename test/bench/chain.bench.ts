// Chain rules: Ed25519 verification node:crypto vs @noble/curves, reading a candidate's JSON, and
// candidate validation of blocks of 1, 100, 1,000 and 10,000 transactions inline vs on the
// worker pool, each against a baseline measured in the same run:
//   - verify/s node:crypto (key object cached per sender, as the hot path does) vs noble;
//   - validateCandidate inline vs bare node:crypto verification of the same signatures
//     (the validation overhead: decoding, ids, Merkle root, draw and clerk RSA checks);
//   - validateCandidate on the pool vs inline.
import { createHash, createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import {
  blockFromJson, blockToJson, createBlock, createTransaction, ticketOf, DEFAULT_CHAIN_PARAMS, ed25519PublicKeyObject, ed25519Sign, firstInvalidInline, keyPairFromSeed,
  PrimaryKeySet, transactionBody, validateCandidate, VerifyPool,
} from '../../firmware/protocol/chain/index.ts';
import type { Block, SignatureCheck, ValidationContext } from '../../firmware/protocol/chain/index.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const seed = (i: number): Uint8Array => new Uint8Array(createHash('sha256').update(`bench seed ${i}`).digest());

function perSecond(seconds: number, fn: () => void): number {
  const until = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < until) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
  }
  return n / ((performance.now() - start) / 1000);
}

async function timeMs(runs: number, fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

const r3 = (n: number): number => Number(n.toPrecision(4));

export const run: BenchSuite = async (report, { quick }) => {
  // --- Lottery ticket: SHA-256 of a 256-byte RSA signature (the one hash the lottery needs) ---
  const sig = new Uint8Array(256).fill(0x5a);
  const nobleHashes = perSecond(quick ? 0.3 : 1, () => nobleSha256(sig));
  const ticketRate = perSecond(quick ? 0.3 : 1, () => ticketOf(sig));
  report(withBaseline('chain lottery ticket SHA-256, node:crypto (ticketOf)', r3(ticketRate), 'hash/s', '@noble/hashes sha256', r3(nobleHashes)));

  // --- Ed25519 verify/s, one core ---
  const k = keyPairFromSeed(seed(0));
  const message = new Uint8Array(61).fill(7);
  const signature = ed25519Sign(k.privateKey, message);
  const keyObject = ed25519PublicKeyObject(k.publicKey);
  const secs = quick ? 0.4 : 1.5;
  const noble = perSecond(secs, () => {
    if (!ed25519.verify(signature, message, k.publicKey)) throw new Error('noble verify failed');
  });
  const node = perSecond(secs, () => {
    if (!nodeVerify(null, message, keyObject, signature)) throw new Error('node verify failed');
  });
  const nodeFresh = perSecond(secs, () => {
    if (!nodeVerify(null, message, ed25519PublicKeyObject(k.publicKey), signature)) throw new Error('node verify failed');
  });
  report({ name: 'chain ed25519 verify, @noble/curves (baseline)', value: Math.round(noble), unit: 'verify/s' });
  report(withBaseline('chain ed25519 verify, node:crypto (cached key)', Math.round(node), 'verify/s', '@noble/curves', Math.round(noble)));
  report(withBaseline('chain ed25519 verify, node:crypto (key per verify)', Math.round(nodeFresh), 'verify/s', '@noble/curves', Math.round(noble)));

  // --- candidate validation, inline vs pool ---
  const clerkKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const previousHash = seed(999);
  const now = 1_700_000_000_000;
  const senders = Array.from({ length: 64 }, (_, i) => keyPairFromSeed(seed(i + 1)));
  const sizes = [1, 100, 1000, 10_000];
  const maxSize = sizes[sizes.length - 1]!;
  const allTxs = Array.from({ length: maxSize }, (_, i) =>
    createTransaction(senders[i % senders.length]!, { timestamp: 1_700_000_000 + i, recipientId: String(i + 1), amount: BigInt(i + 1), fee: 10n }),
  );
  const pool = new VerifyPool({ inlineThreshold: 256 });
  report({ name: 'chain verify pool size (workers)', value: pool.size, unit: 'workers' });
  const primaries = new PrimaryKeySet([createPublicKey(clerkKey)]);
  const ctx = (verifier?: VerifyPool): ValidationContext => ({
    primaries,
    tip: { hash: previousHash, height: 9 },
    now: () => now,
    params: DEFAULT_CHAIN_PARAMS,
    ...(verifier === undefined ? {} : { verifier }),
  });
  try {
    for (const n of sizes) {
      const block: Block = createBlock({ clerkKey, height: 10, previousHash, timestamp: now, drawRound: 0, transactions: allTxs.slice(0, n) });
      // Reading a candidate the transport has parsed (blockFromJson), beside JSON.parse of its text.
      const text = JSON.stringify(blockToJson(block));
      const parsed: unknown = JSON.parse(text);
      const parseRuns = quick ? 5 : n >= 10_000 ? 21 : n >= 1000 ? 51 : 301;
      const read = await timeMs(parseRuns, () => blockFromJson(parsed));
      const jsonParse = await timeMs(parseRuns, () => JSON.parse(text));
      report(withBaseline(`chain read candidate ${n} txs (blockFromJson)`, r3(read), 'ms', 'JSON.parse of its text', r3(jsonParse)));
      const checks: SignatureCheck[] = block.transactions.map((t) => ({ publicKey: t.senderPublicKey, message: transactionBody(t), signature: t.signature }));
      const runs = quick ? (n >= 10_000 ? 1 : 3) : n >= 10_000 ? 3 : n >= 1000 ? 5 : 15;
      const inlineCtx = ctx();
      const poolCtx = ctx(pool);
      const inline = await timeMs(runs, async () => {
        const r = await validateCandidate(block, inlineCtx);
        if (!r.ok) throw new Error(`inline validation failed: ${r.reason.code}`);
      });
      const bare = await timeMs(runs, () => {
        if (firstInvalidInline(checks) !== -1) throw new Error('bare verify failed');
      });
      const pooled = await timeMs(runs, async () => {
        const r = await validateCandidate(block, poolCtx);
        if (!r.ok) throw new Error(`pool validation failed: ${r.reason.code}`);
      });
      report(withBaseline(`chain validate ${n} txs, inline`, r3(inline), 'ms', 'bare node:crypto verify, one thread', r3(bare)));
      report(withBaseline(`chain validate ${n} txs, pool${n < pool.inlineThreshold ? ' (below threshold: inline)' : ''}`, r3(pooled), 'ms', 'validate inline', r3(inline)));
    }
  } finally {
    await pool.close();
  }
};
