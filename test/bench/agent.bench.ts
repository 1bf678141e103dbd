// Candidate-to-seal latency of a real agent: swtpm, the in-process broker,
// a journal file and a verify pool, with sealZeros 0 so that the first round qualifies and the
// figure is validation + journal + one TPM signature + publish, not lottery luck. Each size is sent
// as JSON and as the binary frame (firmware/protocol/chain/candidate-wire.ts), with its bytes on
// the wire. Floor in the same run: the same block's transaction signatures verified with bare
// node:crypto spread over all cores (KeyObjects built beforehand), plus one TPM signature on the
// same swtpm. The agent's transport keeps the product's limits (the device ceiling, the cap the
// manifest gives candidates): nothing is raised for the bench. Then header-first against full
// delivery at 100, 1,000 and 10,000 transactions (agent/header-first.ts).
import { SealSigner } from '../../firmware/sealing/seal-signer.ts';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createAgent } from '../../firmware/agent/index.ts';
import { blockHash } from '../../firmware/protocol/chain/block.ts';
import { candidateByteCaps, encodeCandidate, type CandidateEncoding } from '../../firmware/protocol/chain/candidate-wire.ts';
import { createBlock, drawUntilQualified } from '../../firmware/protocol/chain/build.ts';
import { testNetwork } from '../network.ts';
import { keyFingerprint, spkiOf } from '../../firmware/protocol/identity.ts';
import { transactionBody, type Transaction } from '../../firmware/protocol/chain/transaction.ts';
import { VerifyPool } from '../../firmware/protocol/chain/verify-pool.ts';
import { TxGenerator } from '../../firmware/devnet/tx-generator.ts';
import { encodeFinalMessage } from '../../firmware/protocol/final-message.ts';
import { DEFAULT_PARAMS, type NetworkParams } from '../../firmware/protocol/params.ts';
import { sealMessage } from '../../firmware/protocol/seal-message.ts';
import { alwaysActive } from '../../firmware/sealing/gate.ts';
import { openSealJournal } from '../../firmware/sealing/journal.ts';
import { createMqttTransport, startBroker, topicsFor } from '../../firmware/transport/index.ts';
import { openTpm } from '../../tpm/tpm.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';
import { benchHeaderFirst, type HeaderFirstRig } from './agent/header-first.ts';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** What a floor worker posts back: 'loaded', or 'done' with the count of bad signatures. */
interface FloorMessage {
  readonly type: string;
  readonly bad?: number;
}

/** Bare node:crypto verification of the block's signatures over one worker per core. */
async function floorVerifier(txs: readonly Transaction[]): Promise<{ run(): Promise<number>; close(): Promise<void> }> {
  const n = availableParallelism();
  const workers = Array.from({ length: n }, () => new Worker(new URL('./agent/floor-worker.js', import.meta.url)));
  const once = (w: Worker, type: string) => new Promise<FloorMessage>((resolve) => w.once('message', (m: FloorMessage) => m.type === type && resolve(m)));
  await Promise.all(workers.map((w, i) => {
    const part = txs.filter((_, j) => j % n === i).map((tx) => ({
      spki: Buffer.concat([ED25519_SPKI_PREFIX, tx.senderPublicKey]), message: transactionBody(tx), signature: tx.signature,
    }));
    const loaded = once(w, 'loaded');
    w.postMessage({ type: 'load', checks: part });
    return loaded;
  }));
  return {
    async run() {
      const t0 = performance.now();
      const done = await Promise.all(workers.map((w) => { const d = once(w, 'done'); w.postMessage({ type: 'run' }); return d; }));
      if (done.some((d) => (d.bad ?? 0) > 0)) throw new Error('floor: a signature did not verify');
      return performance.now() - t0;
    },
    close: async () => { await Promise.all(workers.map((w) => w.terminate())); },
  };
}

export const run: BenchSuite = async (report, { quick }) => {
  const dir = await mkdtemp(join(tmpdir(), 'btn-bench-agent-'));
  const swtpm = await startSwtpm({ caDir: join(dir, 'ca') });
  const tpm = await openTpm({ tcti: swtpm.tcti });
  const broker = await startBroker();
  const pool = new VerifyPool();
  const topics = topicsFor(`btn/bench-agent-${process.pid}`);
  const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clerkFp = keyFingerprint(spkiOf(clerk.publicKey));
  const params: NetworkParams = {
    ...DEFAULT_PARAMS, sealZeros: 0, clerkZeros: 0, spinIntervalMs: 1, maxRounds: 4, sealDeadlineMs: 60_000, timestampWindowMs: 600_000,
  };
  const genesis = { hash: new Uint8Array(createHash('sha256').update('bench genesis').digest()), height: 0, timestamp: Date.now() - 60_000 };
  const key = await tpm.ensureSealingKey();
  const journal = await openSealJournal(join(dir, 'journal'));
  const transport = createMqttTransport({ url: broker.url, nodeId: 'bench-node', clientId: `bench-node-${process.pid}`, prefix: topics.prefix, protocol: 4 });
  // The clerk sends what the parameters allow (as the devnet's primary does).
  const maxOutboundBytes = candidateByteCaps({ maxTxs: params.maxBlockTxs, maxBlockBytes: params.maxBlockBytes }).json;
  const clerkT = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `bench-clerk-${process.pid}`, prefix: topics.prefix, protocol: 4, status: false, maxOutboundBytes });
  const net = testNetwork({ clerks: [clerk.publicKey], params, genesis });
  const agent = createAgent({
    nodeId: 'bench-node', tpm, sealingHandle: key.handle, transport, topics, journal, gate: alwaysActive('bench-node'),
    network: await net.state(), verifier: pool, sealAuthority: null, signer: new SealSigner(journal, tpm, key.handle),
  });
  const waiting = new Map<string, (at: number) => void>();
  clerkT.subscribe(topics.seals(clerkFp), (m) => {
    waiting.get(Buffer.from(m.value.blockHash).toString('hex'))?.(performance.now());
  }, { qos: 1, schema: sealMessage });
  const gen = new TxGenerator({ seed: 'bench' });
  let tip: { hash: Uint8Array; height: number; timestamp: number } = genesis;
  const rig: HeaderFirstRig = {
    clerkT, topics,
    block(size) {
      const draw = drawUntilQualified(clerk.privateKey, tip.hash, 0, 1)!;
      return createBlock({ clerkKey: clerk.privateKey, height: tip.height + 1, previousHash: tip.hash, timestamp: Date.now(), transactions: gen.next(size, Math.floor(Date.now() / 1000)), drawRound: draw.round, drawSignature: draw.signature });
    },
    sealed: (hex) => Promise.race([
      new Promise<number>((resolve) => waiting.set(hex, resolve)),
      new Promise<number>((_, rej) => setTimeout(() => rej(new Error(`no seal for ${hex.slice(0, 16)} within 60 s; oversize drops ${transport.stats().dropped.oversize}`)), 60_000)),
    ]),
    async finalize(block) {
      const hash = blockHash(block.header);
      await clerkT.publish(topics.final, encodeFinalMessage(net.keys.final({ height: block.header.height, hash, timestamp: block.header.timestamp, clerk: clerkFp, sealedBy: ['bench-node'] })), { qos: 1, retain: true });
      tip = { hash, height: block.header.height, timestamp: block.header.timestamp };
      await new Promise((r) => setTimeout(r, 50));
    },
  };
  try {
    await agent.start();
    await transport.online();
    await clerkT.online();
    // One TPM signature, the floor's second term.
    const sigTimes: number[] = [];
    for (let i = 0; i < (quick ? 5 : 15); i++) {
      const t0 = performance.now();
      await tpm.sign(new Uint8Array([i, 1, 2, 3]));
      sigTimes.push(performance.now() - t0);
    }
    const tpmSignMs = median(sigTimes);
    report({ name: 'agent floor: one TPM signature (swtpm)', value: Number(tpmSignMs.toFixed(2)), unit: 'ms' });

    for (const size of quick ? [1, 100, 1000] : [1, 100, 1000, 10_000]) {
      for (const encoding of ['json', 'binary'] as CandidateEncoding[]) {
        const reps = size >= 10_000 ? 3 : quick ? 3 : 5;
        const latencies: number[] = [];
        const floors: number[] = [];
        let bytes = 0;
        let lost = '';
        for (let r = 0; r < reps; r++) {
          const block = rig.block(size);
          const txs = block.transactions;
          const hash = blockHash(block.header);
          const payload = encodeCandidate(block, encoding, { maxTxs: params.maxBlockTxs, maxBlockBytes: params.maxBlockBytes });
          bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
          const floor = await floorVerifier(txs);
          floors.push((await floor.run()) + tpmSignMs);
          await floor.close();
          const sealed = rig.sealed(Buffer.from(hash).toString('hex'));
          const t0 = performance.now();
          await clerkT.publish(topics.candidates, payload, { qos: 1 });
          const at = await sealed.catch((err: Error) => { lost = `${size} txs (${encoding}): ${err.message}`; return null; });
          if (at === null) break;
          latencies.push(at - t0);
          // Final: the chain moves on and the next candidate builds on this block.
          await rig.finalize(block);
        }
        report({ name: `agent candidate bytes on the wire, ${size} tx, ${encoding}`, value: bytes, unit: 'bytes' });
        if (lost !== '') {
          report({ name: `agent candidate-to-seal, ${size} tx, ${encoding}: NOT SEALED (${lost})`, value: bytes, unit: 'bytes' });
          continue;
        }
        report(withBaseline(`agent candidate-to-seal, ${size} tx, ${encoding}`, Number(median(latencies).toFixed(2)), 'ms', 'bare node:crypto on all cores + one TPM signature', Number(median(floors).toFixed(2))));
      }
    }
    // Header-first (the manifest's candidateDelivery) against full binary candidates, interleaved.
    await benchHeaderFirst(report, rig, quick ? [100, 1000] : [100, 1000, 10_000], (size) => (size >= 10_000 ? 3 : quick ? 3 : 5));
  } finally {
    await agent.stop().catch(() => undefined);
    await transport.close().catch(() => undefined);
    await clerkT.close().catch(() => undefined);
    await journal.close().catch(() => undefined);
    await pool.close().catch(() => undefined);
    await broker.close();
    await tpm.close().catch(() => undefined);
    await swtpm.destroy();
    await rm(dir, { recursive: true, force: true });
  }
};
