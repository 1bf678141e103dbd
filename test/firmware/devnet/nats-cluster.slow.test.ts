// Slow: the provisioned devnet through a three-member nats-server cluster, one node per member
// (node-1 on member 1, node-2 on member 2, node-3 and the primary on member 0), 90 blocks of about
// a second; member 1 is killed (SIGKILL) once block 2 is final. Every block becomes final, no node
// seals one height with two blocks, and every node seals again after the kill: node-1 through
// another member. The nodes subscribe at QoS 0 on the cluster (devnet-broker.ts clientUrls): with
// QoS 1 subscriptions, each a replicated JetStream consumer, nats-server 2.9 kept failing to create
// them while the member was down, and nodes (not only the killed member's) stopped sealing.
// Why 90 blocks: nats-server needs 10-25 s here (more under CI's load) to move the JetStream
// leaders the dead member held (README, "A broker cluster").
import { describe, expect, it } from 'vitest';
import { clusterRun } from './cluster-run.ts';

const BLOCKS = 90;
const KILL_AFTER = 2;

describe('provisioned devnet on a nats-server cluster (slow)', () => {
  it('member 1 killed after block 2: all final, no double seal, every node seals again, its node through another member', { timeout: 600_000 }, async () => {
    const run = await clusterRun({ broker: 'nats-cluster', nodes: 3, blocks: BLOCKS, kill: { member: 1, afterHeight: KILL_AFTER } });
    const { result } = run;
    expect(run.alive).toEqual([true, false, true]);
    expect(run.killedNodes).toEqual(['node-1']);
    expect(result.ok).toBe(true);
    expect(result.blocks.map((b) => [b.height, b.final])).toEqual(Array.from({ length: BLOCKS }, (_, i) => [i + 1, true]));
    for (const b of result.blocks) {
      expect(new Set(b.seals.map((s) => s.node)).size).toBe(b.seals.length);
      // Every seal of the final block was one the clerks accepted for that very block.
      for (const s of b.seals) expect(run.seals.some((e) => e.node === s.node && e.height === b.height && e.hash === b.hash)).toBe(true);
    }
    // No node sealed two different blocks at one height (a redraw must not make it seal twice).
    const sealed = new Map<string, Set<string>>();
    for (const e of run.seals) sealed.set(`${e.node}@${e.height}`, (sealed.get(`${e.node}@${e.height}`) ?? new Set()).add(e.hash));
    for (const [at, hashes] of sealed) expect([at, hashes.size]).toEqual([at, 1]);
    // Every node seals after the kill, node-1 (whose member died) through another member.
    const idOf = (label: string): string => result.provisioned.find((p) => p.node === label)!.nodeId;
    const sealedAfterKill = (label: string): number[] => result.blocks.filter((b) => b.height > KILL_AFTER + 1 && b.seals.some((s) => s.node === idOf(label))).map((b) => b.height);
    for (const label of ['node-1', 'node-2', 'node-3']) expect({ label, sealsAfterKill: sealedAfterKill(label).length > 0 }).toEqual({ label, sealsAfterKill: true });
    const back = sealedAfterKill('node-1');
    const missed = (label: string): number => BLOCKS - KILL_AFTER - 1 - sealedAfterKill(label).length;
    console.log(`node-1 sealed again from block ${back[0]} on (killed after block ${KILL_AFTER}); blocks after the kill without a node's seal: ${['node-1', 'node-2', 'node-3'].map((l) => `${l} ${missed(l)}`).join(', ')}`);
  });
});
