// runDevnet with real swtpm TPMs and the in-process broker. The agents here are stand-ins that
// seal with the TPM's sealing key through the same messages as the real agent; the end-to-end
// test of the command (devnet-command.test.ts) runs the real agents.
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { CLUSTER_FAILOVER_DEADLINE_MS, DEVNET_PARAMS, devnetSealDeadline, runDevnet, type AgentFactory, type DevnetEvent } from '../../../firmware/devnet/devnet.ts';
import { standInAgent } from './stand-in-secondary.ts';

const tpmStandIn: AgentFactory = (ctx) => standInAgent({
  transport: ctx.transport, nodeId: ctx.nodeId, topics: ctx.topics, params: ctx.params,
  sign: ctx.tpm.lotteryKey({ handle: ctx.sealingKey.handle }).sign,
});

let mosquitto: Mosquitto | undefined;
afterAll(async () => { await mosquitto?.destroy(); });

describe('runDevnet', () => {
  it('runs against a real mosquitto (MQTT 5)', async () => {
    mosquitto = await startMosquitto();
    const result = await runDevnet({ nodes: 1, blocks: 1, brokerUrl: mosquitto.url, agentFactory: tpmStandIn, params: { spinIntervalMs: 40 } });
    expect(result.ok).toBe(true);
    expect(result.blocks[0]!.seals.length).toBeGreaterThan(0);
  });

  it('runs N TPM-backed nodes to K final blocks, every seal verifiable from the record, and leaves nothing behind', async () => {
    const events: DevnetEvent[] = [];
    const trusted: unknown[] = [];
    const agentFactory: AgentFactory = (ctx) => { trusted.push(ctx.network); return tpmStandIn(ctx); };
    const result = await runDevnet({ nodes: 2, blocks: 2, agentFactory, onEvent: (e) => events.push(e), params: { spinIntervalMs: 60 }, network: 'testnet-2' });
    expect(result.ok).toBe(true);
    expect(result.blocks.map((b) => b.height)).toEqual([1, 2]);
    expect(result.blocks[1]!.previousHash).toBe(result.blocks[0]!.hash);
    const pems = new Map(result.nodes.map((n) => [n.nodeId, n.publicKeyPem]));
    for (const b of result.blocks) {
      for (const s of b.seals) {
        expect(s.publicKeyPem).toBe(pems.get(s.node));
        const ok = verify('sha256', lotteryMessage(Buffer.from(b.hash, 'hex'), s.round), createPublicKey(s.publicKeyPem), Buffer.from(s.signature, 'hex'));
        expect(ok).toBe(true);
        expect(scoreTicket(Buffer.from(s.signature, 'hex'), s.round).zeros).toBe(s.zeros);
        expect(s.zeros).toBeGreaterThanOrEqual(result.params.sealZeros);
      }
    }
    expect(events[0]).toMatchObject({ type: 'params' });
    // Every node is told to trust the run's root key for network testnet-2; the manifest went out under it.
    expect(result.network).toMatchObject({ kind: 'signed', network: 'testnet-2' });
    expect(trusted).toEqual([result.network, result.network]);
    const manifest = events.find((e) => e.type === 'manifest');
    expect(manifest).toMatchObject({ network: 'testnet-2', rootPublicKey: Buffer.from(result.network.rootPublicKey).toString('hex') });
    for (const b of result.blocks) expect(b.votes.length).toBeGreaterThanOrEqual(b.quorum);
    expect(events.filter((e) => e.type === 'node')).toHaveLength(2);
    // Both TPMs are gone.
    for (const e of events) {
      if (e.type === 'node') {
        const port = Number(/port=(\d+)/.exec(e.tcti)![1]);
        expect(await canConnect(port)).toBe(false);
      }
    }
  });

  it('the seal deadline grows with big blocks, and on a nats-server cluster covers the loss of a member', () => {
    expect(devnetSealDeadline(3, 4)).toBe(DEVNET_PARAMS.sealDeadlineMs);
    expect(devnetSealDeadline(3, 10_000)).toBe(DEVNET_PARAMS.sealDeadlineMs + 3 * 9900 * 0.5);
    expect(devnetSealDeadline(3, 4, 'nats-cluster')).toBe(CLUSTER_FAILOVER_DEADLINE_MS);
    expect(devnetSealDeadline(10, 10_000, 'nats-cluster')).toBe(DEVNET_PARAMS.sealDeadlineMs + 10 * 9900 * 0.5);
    expect(devnetSealDeadline(3, 4, 'mosquitto')).toBe(DEVNET_PARAMS.sealDeadlineMs);
  });

  it('refuses out-of-range sizes and bad params before starting anything', async () => {
    const agentFactory = tpmStandIn;
    await expect(runDevnet({ nodes: 0, blocks: 1, agentFactory })).rejects.toMatchObject({ code: 'ERR_DEVNET_OPTIONS' });
    await expect(runDevnet({ nodes: 33, blocks: 1, agentFactory })).rejects.toThrow(/nodes must be an integer in 1..32/);
    await expect(runDevnet({ nodes: 1, blocks: 10_001, agentFactory })).rejects.toThrow(/blocks must be an integer in 1..10000/);
    await expect(runDevnet({ nodes: 1, blocks: 1, agentFactory, params: { spinIntervalMs: 0 } })).rejects.toThrow(/invalid network parameters/);
  });

  it('cleans up its state directory and TPMs when an agent fails to start', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'btn-devnet-test-'));
    const stateDir = join(parent, 'state');
    // A private TMPDIR: other test files create btn-devnet-* directories in the shared one at the
    // same time, so only a directory of our own can show that this run left nothing behind.
    const privateTmp = join(parent, 'tmp');
    mkdirSync(privateTmp);
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    try {
      expect(tmpdir()).toBe(privateTmp);
      await expect(runDevnet({ nodes: 1, blocks: 1, stateDir, agentFactory: () => { throw new Error('agent refused'); } })).rejects.toThrow(/agent refused/);
      // A given state dir is kept (it is the caller's), the TPM in it is stopped; no temp dir left over.
      expect(existsSync(join(stateDir, 'node-1', 'tpm'))).toBe(true);
      expect(readdirSync(privateTmp)).toEqual([]);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

function canConnect(port: number): Promise<boolean> {
  return import('node:net').then(({ createConnection }) => new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  }));
}
