// The node's history fed by its agent's events: spins (rounds, best ticket, signing time), refusals,
// seals, rival seals and final blocks; saved at stop and read back by the next start.
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecondaryAgent, SpinEvent } from '../../../firmware/agent/index.ts';
import { openNodeHistory } from '../../../firmware/node/index.ts';
import { snapshot } from '../status/fixtures.ts';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'btn-node-history-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

// The agent's events as the agent emits them (a stand-in: the unit is the history's wiring).
function agentStandIn(): SecondaryAgent {
  const a = new EventEmitter() as EventEmitter & { nodeId: string; status: () => ReturnType<SecondaryAgent['status']> };
  a.nodeId = 'node-a';
  a.status = () => snapshot({ uptimeMs: 7_200_000 });
  return a as unknown as SecondaryAgent;
}

const hash = (n: number): string => n.toString(16).padStart(64, '0');
const sample = async (): Promise<{ tempC: number; memPct: number; diskPct: number }> => ({ tempC: 45, memPct: 30, diskPct: 10 });

describe('node history', () => {
  it('records what the agent did, saves at stop, and the next start reads it back', async () => {
    const now = Date.UTC(2026, 11, 5, 10, 0, 0);
    const agent = agentStandIn();
    const h = await openNodeHistory({ stateDir: dir, agent, logger: pino({ level: 'silent' }), now: () => now, sample });
    h.start();
    const spin = (e: Omit<SpinEvent, 'zerosNeeded'>): boolean => agent.emit('spin', { zerosNeeded: 6, ...e } satisfies SpinEvent);
    spin({ height: 1, hash: hash(1), outcome: { outcome: 'deadline', rounds: 4 }, bestZeros: 5, signMs: 40 });
    agent.emit('rival-seal', { hash: hash(1), nodeId: 'node-b', round: 2 });
    spin({ height: 2, hash: hash(2), outcome: { outcome: 'sealed', round: 1, rounds: 2, zeros: 7, reused: false, signature: new Uint8Array(), ticket: new Uint8Array() }, bestZeros: 7, signMs: 22 });
    agent.emit('seal', { seal: {}, zeros: 7, reused: false });
    // a journal refusal comes twice (spin, then rejected): counted once
    spin({ height: 3, hash: hash(3), outcome: { outcome: 'refused', reason: 'conflicting-block', message: 'height 3 already sealed for another block' }, bestZeros: null, signMs: 0 });
    agent.emit('rejected', { height: 3, code: 'conflicting-block', message: 'height 3 already sealed for another block' });
    agent.emit('final', { height: 1, hash: Buffer.from(hash(1), 'hex'), sealedBy: ['node-b'] });
    await h.stop();
    expect(h.stats().saves).toBe(1);
    const d = h.history.data();
    expect(d.totals).toEqual({ tested: 3, sealed: 1, rounds: 6 });
    expect(d.hours[0]).toMatchObject({ tested: 3, refused: 1, sealed: 1, rounds: 6, signMs: 62, tempC: 45, uptimeS: 7200 });
    expect(d.blocks.map((b) => [b.height, b.verdict, b.bestZeros, b.sealedBy])).toEqual([
      [1, 'not-sealed', 5, { nodeId: 'node-b', round: 2 }], [2, 'sealed', 7, { nodeId: 'node-a', round: 1 }], [3, 'refused', null, null],
    ]);
    expect(d.blocks[0]!.reason).toBe('time ran out after 4 rounds: no ticket reached 6 zero bits');
    // after stop nothing more is recorded
    spin({ height: 4, hash: hash(4), outcome: { outcome: 'deadline', rounds: 1 }, bestZeros: 1, signMs: 1 });
    expect(h.history.data().totals.tested).toBe(3);

    const again = await openNodeHistory({ stateDir: dir, agent: agentStandIn(), logger: pino({ level: 'silent' }), now: () => now + 60_000, sample });
    expect(again.history.data()).toEqual(d);
    expect(again.history.notice).toBeNull();
    await again.stop();
    expect(again.stats().saves).toBe(0); // nothing changed: nothing written
  });
});
