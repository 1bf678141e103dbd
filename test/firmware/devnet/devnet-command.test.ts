// btn-node devnet: argument bounds, and the --json line format checked independently
// (devnet-lines.ts) on a run with TPM-backed stand-in agents. The subprocess run with the real
// agents is in devnet-e2e.test.ts.
import { describe, expect, it } from 'vitest';
import { devnetCommand } from '../../../firmware/devnet/devnet-command.ts';
import type { AgentFactory } from '../../../firmware/devnet/devnet.ts';
import { checkDevnetLines } from './devnet-lines.ts';
import { standInAgent } from './stand-in-secondary.ts';

const tpmStandIn: AgentFactory = (ctx) => standInAgent({
  transport: ctx.transport, nodeId: ctx.nodeId, topics: ctx.topics, params: ctx.params,
  sign: ctx.tpm.lotteryKey({ handle: ctx.sealingKey.handle }).sign,
});

describe('btn-node devnet', () => {
  it('bounds --nodes and --blocks with clear usage errors', async () => {
    const run = (...argv: string[]) => devnetCommand(argv, { agentFactory: tpmStandIn, out: () => undefined });
    await expect(run('--nodes', '0')).rejects.toThrow(/--nodes must be in 1..32, got 0/);
    await expect(run('--nodes', '33')).rejects.toThrow(/--nodes must be in 1..32/);
    await expect(run('--nodes', 'three')).rejects.toThrow(/--nodes must be a whole number in 1..32/);
    await expect(run('--nodes', '-1')).rejects.toThrow(/--nodes/);
    await expect(run('--blocks', '10001')).rejects.toThrow(/--blocks must be in 1..10000/);
    await expect(run('--blocks', '1.5')).rejects.toThrow(/--blocks must be a whole number/);
    await expect(run('--broker', 'localhost:1883')).rejects.toThrow(/--broker must be an mqtt:\/\/ URL/);
    await expect(run('--bogus')).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(run('--network', 'a b')).rejects.toThrow(/--network: expected string of 1..64/);
    const help: string[] = [];
    expect(await devnetCommand(['--help'], { out: (l) => help.push(l) })).toBe(0);
    expect(help.join('\n')).toMatch(/--nodes N/);
  });

  const lines: string[] = [];

  it('--json prints params, network, root key and manifest, then one verifiable line per final block with its votes', async () => {
    const code = await devnetCommand(['--nodes', '2', '--blocks', '2', '--json'], { agentFactory: tpmStandIn, out: (l) => lines.push(l) });
    expect(code).toBe(0);
    const run = checkDevnetLines(lines.join('\n'), 2);
    expect(run.params['sealZeros']).toBe(3);
    expect(run.blocks.map((b) => b['height'])).toEqual([1, 2]);
    expect(run.seals).toBeGreaterThanOrEqual(2);
    // 3 clerks, quorum 3: every member's vote, checked with node:crypto alone.
    expect(run.votes).toBe(6);
    const first = JSON.parse(lines[0]!) as { network: string; rootPublicKey: string; manifest: { committee: { members: string[]; quorum: number } } };
    expect(first.network).toBe('devnet');
    expect(first.rootPublicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(first.manifest.committee).toMatchObject({ quorum: 3 });
    expect(first.manifest.committee.members).toHaveLength(3);
    expect(Object.keys(run.blocks[0]!).slice(0, 6)).toEqual(['height', 'hash', 'clerk', 'final', 'msToFinal', 'seals']);
  });

  it('the independent checker catches a forged seal, a wrong zero count, a broken chain, forged or repeated votes and a foreign root', () => {
    expect(lines).toHaveLength(3); // from the run above
    const [params, b1, b2] = lines.map((l) => JSON.parse(l) as Record<string, any>) as [Record<string, any>, Record<string, any>, Record<string, any>];
    const text = (...objs: unknown[]): string => objs.map((o) => JSON.stringify(o)).join('\n');
    expect(() => checkDevnetLines(text(params, b1, b2), 2)).not.toThrow();
    const forged = structuredClone(b1);
    forged.seals[0].signature = forged.seals[0].signature.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
    expect(() => checkDevnetLines(text(params, forged, b2), 2)).toThrow(/does not verify|zeros/);
    const lying = structuredClone(b1);
    lying.seals[0].zeros += 1;
    expect(() => checkDevnetLines(text(params, lying, b2), 2)).toThrow(/claims/);
    const broken = structuredClone(b2);
    broken.previousHash = '00'.repeat(32);
    expect(() => checkDevnetLines(text(params, b1, broken), 2)).toThrow(/previousHash/);
    expect(() => checkDevnetLines(text(params, b2, b1), 2)).toThrow(/height/);
    const forgedVote = structuredClone(b1);
    forgedVote.votes[0].signature = forgedVote.votes[0].signature.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
    expect(() => checkDevnetLines(text(params, forgedVote, b2), 2)).toThrow(/2 verified vote\(s\) of distinct members, quorum 3/);
    const repeated = structuredClone(b1);
    repeated.votes[2] = repeated.votes[0];
    expect(() => checkDevnetLines(text(params, repeated, b2), 2)).toThrow(/quorum 3/);
    const otherBlock = structuredClone(b2);
    otherBlock.votes = b1.votes; // votes for another height and hash
    expect(() => checkDevnetLines(text(params, b1, otherBlock), 2)).toThrow(/0 verified vote/);
    const foreignRoot = { ...params, rootPublicKey: 'ab'.repeat(32) };
    expect(() => checkDevnetLines(text(foreignRoot, b1, b2), 2)).toThrow(/manifest signature/);
    const loweredQuorum = structuredClone(params);
    loweredQuorum.manifest.committee.quorum = 2;
    expect(() => checkDevnetLines(text(loweredQuorum, b1, b2), 2)).toThrow(/manifest signature/);
  });
});
