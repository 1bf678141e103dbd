// btn-node update check-health with RAUC scripted and the clock virtual: what makes a node
// healthy (each reason named), the new slot kept (mark-good, floor raised, "updated to X") or
// rolled back (mark-bad, "rolled back from X: reason", reboot), the old slot booted again
// ("did not boot"), no pending update (mark-good once healthy, never a reboot), and a status
// from before this boot that does not count.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { checkHealth, judgeHealth, UpdateFiles, type PendingUpdate } from '../../../firmware/update/index.ts';
import { fakeDevice, healthyStatus, raucCalls, type FakeDevice } from './fake-device.ts';

const root = await mkdtemp(join(tmpdir(), 'btn-update-health-'));
let n = 0;
let files: UpdateFiles;
let d: FakeDevice;
afterAll(() => rm(root, { recursive: true, force: true }));
beforeEach(async () => {
  const dir = join(root, `t${++n}`);
  await mkdir(dir);
  d = fakeDevice(dir);
  files = new UpdateFiles(dir);
});

const before: PendingUpdate = {
  version: 1, target: '0.3.0', from: { version: '0.2.0', slot: 'A' }, bootId: 'boot-0', nodeId: 'a1b2c3d4e5f6', activation: 'active',
  journal: { entries: 7, highestHeight: 42, finalizedHeight: 40 }, at: 1_799_999_000_000,
};

/** The agent of this boot writes a new status on the second read (the first is the file the old agent left). */
function agentWrites(s = healthyStatus()): void {
  d.status = healthyStatus({ updatedAt: 1 });
  d.onStatusRead = (n) => {
    if (n >= 2) d.status = { ...s, updatedAt: 1_800_000_000_000 + n };
  };
}

describe('health judgment', () => {
  it('healthy: TPM with its key, journal holding what it held, broker connected, same active node', () => {
    expect(judgeHealth(healthyStatus(), before)).toEqual({ healthy: true });
    expect(judgeHealth(healthyStatus({ journal: { entries: 9, highestHeight: 50 } }), before)).toEqual({ healthy: true });
    // A new final block may have compacted old slots away: fewer entries, the same or higher height.
    expect(judgeHealth(healthyStatus({ journal: { entries: 3, highestHeight: 44 }, chain: { ...healthyStatus().chain, finalizedHeight: 43 } }), before)).toEqual({ healthy: true });
  });

  it('names each reason', () => {
    const reason = (over: Parameters<typeof healthyStatus>[0], p: PendingUpdate | null = before): string => {
      const h = judgeHealth(healthyStatus(over), p);
      expect(h.healthy).toBe(false);
      return (h as { reason: string }).reason;
    };
    expect(reason({ state: 'stopped' })).toBe('the agent is stopped, not running');
    expect(reason({ tpm: null })).toBe('the TPM was not readable');
    expect(reason({ tpm: { manufacturer: 'IBM', vendor: 'x', firmwareVersion: '1', sealingKey: null } })).toBe('the TPM holds no sealing key');
    const key = { handle: '0x81000002', publicKeyPem: 'PEM', name: 'name' };
    expect(reason({ tpm: { manufacturer: 'IBM', vendor: 'x', firmwareVersion: '1', sealingKey: key } })).toBe('the sealing key did not sign its self-test message');
    expect(reason({ tpm: { manufacturer: 'IBM', vendor: 'x', firmwareVersion: '1', sealingKey: key, selfTest: { verified: false, at: 1, error: 'TPM_RC_AUTH_FAIL' } } }))
      .toBe('the sealing key did not sign its self-test message: TPM_RC_AUTH_FAIL');
    expect(reason({ faults: [{ key: 'seal journal', code: 'ERR_JOURNAL_UNAVAILABLE', message: 'disk full', since: 1 }] })).toBe('the seal journal is not open: disk full');
    expect(reason({ journal: undefined })).toBe('the agent does not report its seal journal');
    expect(reason({ journal: { entries: 6, highestHeight: 42 } })).toBe('the seal journal holds 6 entries up to height 42, less than the 7 up to height 42 before the update');
    expect(reason({ journal: { entries: 7, highestHeight: 41 } })).toMatch(/up to height 41, less than/);
    expect(reason({ journal: { entries: 7, highestHeight: 41 }, chain: { ...healthyStatus().chain, finalizedHeight: 41 } })).toMatch(/up to height 41, less than/);
    expect(reason({ broker: { connected: false, state: 'reconnecting', failure: 'TLS: certificate name mismatch' } })).toBe('the broker is not connected (reconnecting: TLS: certificate name mismatch)');
    expect(reason({ activation: { state: 'not-activated', reason: 'no activation.json' } })).toBe('the node was active and is now not-activated (no activation.json)');
    expect(reason({ nodeId: 'ffffffffffff' })).toBe('the node id changed from a1b2c3d4e5f6 to ffffffffffff');
  });

  it('a node that was not active need not be active; without a pending update there is nothing to compare', () => {
    expect(judgeHealth(healthyStatus({ activation: { state: 'not-activated' }, nodeId: 'x' }), { ...before, activation: 'not-activated' }).healthy).toBe(true);
    expect(judgeHealth(healthyStatus({ journal: { entries: 0, highestHeight: -1 }, activation: { state: 'revoked' } }), null).healthy).toBe(true);
  });
});

describe('check-health', () => {
  it('new slot healthy: mark-good, floor raised to the running version, "updated to X", pending removed', async () => {
    await files.writePending(before);
    d.system.booted = 'B';
    d.running = '0.3.0';
    agentWrites();
    const r = await checkHealth(d.deps, { deadlineMs: 60_000 });
    expect(r).toMatchObject({ action: 'marked-good', outcome: { kind: 'updated', text: 'updated to 0.3.0', from: '0.2.0' } });
    expect(raucCalls(d)).toEqual(['status', 'mark-good']);
    expect(d.calls[1]!.args).toEqual(['rauc', 'status', 'mark-good', 'booted']);
    expect(await files.readFloor()).toBe('0.3.0');
    expect(await files.readOutcome()).toMatchObject({ text: 'updated to 0.3.0' });
    expect(await files.readPending()).toBeNull();
    expect(await files.readSlots()).toMatchObject({ booted: { slot: 'B', version: '0.3.0' }, other: { slot: 'A' } });
    expect(d.reboots).toEqual([]);
  });

  it('the floor is only raised: a forced downgrade that comes up healthy keeps the higher floor', async () => {
    await files.writeFloor('0.5.0');
    await files.writePending({ ...before, target: '0.3.0', from: { version: '0.5.0', slot: 'A' } });
    d.system.booted = 'B';
    d.running = '0.3.0';
    agentWrites();
    await checkHealth(d.deps, { deadlineMs: 60_000 });
    expect(await files.readFloor()).toBe('0.5.0');
  });

  it('new slot not healthy by the deadline: outcome with the reason, mark-bad, pending removed, reboot', async () => {
    await files.writePending(before);
    d.system.booted = 'B';
    d.running = '0.3.0';
    agentWrites(healthyStatus({ broker: { connected: false, state: 'reconnecting' } }));
    const start = d.clock.now();
    const r = await checkHealth(d.deps, { deadlineMs: 120_000 });
    expect(r).toMatchObject({ action: 'rolled-back', outcome: { kind: 'rolled-back', text: 'rolled back from 0.3.0: the broker is not connected (reconnecting) (after 120 s)' } });
    expect(d.clock.now() - start).toBeGreaterThanOrEqual(120_000); // it waited the whole deadline (virtual time)
    expect(raucCalls(d)).toEqual(['status', 'mark-bad']);
    expect(await files.readOutcome()).toMatchObject({ text: expect.stringMatching(/^rolled back from 0\.3\.0: the broker is not connected/) });
    expect(await files.readPending()).toBeNull();
    expect(await files.readFloor()).toBeNull();
    expect(d.reboots).toHaveLength(1);
  });

  it('becomes healthy while waiting: no rollback', async () => {
    await files.writePending(before);
    d.system.booted = 'B';
    d.running = '0.3.0';
    d.status = healthyStatus({ updatedAt: 1 });
    d.onStatusRead = (n) => {
      d.status = healthyStatus({ updatedAt: 10 + n, broker: n < 20 ? { connected: false, state: 'connecting' } : { connected: true, state: 'online' } });
    };
    expect((await checkHealth(d.deps, { deadlineMs: 300_000 })).action).toBe('marked-good');
    expect(d.reboots).toEqual([]);
  });

  it('a status the old agent left (same write) does not count: without a new one it rolls back', async () => {
    await files.writePending(before);
    d.system.booted = 'B';
    d.status = healthyStatus(); // healthy, but never rewritten by this boot's agent
    const r = await checkHealth(d.deps, { deadlineMs: 30_000 });
    expect(r).toMatchObject({ action: 'rolled-back', outcome: { text: 'rolled back from 0.3.0: the agent wrote no status since this boot (after 30 s)' } });
  });

  it('an unreadable status is the reason', async () => {
    await files.writePending(before);
    d.system.booted = 'B';
    d.deps = { ...d.deps, readStatus: () => Promise.reject(new Error('status.json is not JSON')) };
    const r = await checkHealth(d.deps, { deadlineMs: 10_000 });
    expect(r).toMatchObject({ outcome: { text: 'rolled back from 0.3.0: its status is unreadable: status.json is not JSON (after 10 s)' } });
  });

  it('booted the old slot again with an update pending: "did not boot", then the old slot is marked good once healthy', async () => {
    await files.writePending({ ...before, installed: true });
    d.system.booted = 'A';
    agentWrites();
    const r = await checkHealth(d.deps, { deadlineMs: 60_000 });
    expect(r).toMatchObject({ action: 'marked-good', outcome: { kind: 'rolled-back', text: 'rolled back from 0.3.0: did not boot' } });
    expect(raucCalls(d)).toEqual(['status', 'mark-good']);
    expect(await files.readPending()).toBeNull();
    expect(await files.readOutcome()).toMatchObject({ text: 'rolled back from 0.3.0: did not boot' });
    expect(d.reboots).toEqual([]);
  });

  it('no pending update: mark-good once healthy; not healthy: no mark, no reboot, the last outcome kept', async () => {
    await files.writeOutcome({ version: 1, kind: 'updated', text: 'updated to 0.2.0', target: '0.2.0', from: '0.1.0', at: 5 });
    agentWrites();
    expect(await checkHealth(d.deps, { deadlineMs: 60_000 })).toEqual({ action: 'marked-good', outcome: null });
    expect(raucCalls(d)).toEqual(['status', 'mark-good']);

    d.calls.length = 0;
    agentWrites(healthyStatus({ tpm: null }));
    expect(await checkHealth(d.deps, { deadlineMs: 60_000 })).toEqual({ action: 'unhealthy', reason: 'the TPM was not readable (after 60 s)', outcome: null });
    expect(raucCalls(d)).toEqual(['status']);
    expect(d.reboots).toEqual([]);
    expect(await files.readOutcome()).toMatchObject({ text: 'updated to 0.2.0' });
  });

  it('back in the old slot while RAUC says the other slot holds an older bundle: the install did not finish (a power cut)', async () => {
    // rauc install never returned (no `installed` in the record): a power cut during it, whatever RAUC recorded.
    await files.writePending(before);
    agentWrites();
    expect(await checkHealth(d.deps, { deadlineMs: 60_000 })).toMatchObject({ outcome: { kind: 'interrupted', text: 'rolled back from 0.3.0: the install did not finish' } });
    await files.writePending({ ...before, installed: true });
    d.system.otherVersion = '0.1.0';
    agentWrites();
    const r = await checkHealth(d.deps, { deadlineMs: 60_000 });
    expect(r).toMatchObject({ action: 'marked-good', outcome: { kind: 'interrupted', text: 'rolled back from 0.3.0: the install did not finish (the other slot holds 0.1.0)' } });
    // RAUC had begun writing the slot (its status "pending"; the version it last held stays recorded).
    d.system.otherStatus = 'pending';
    await files.writePending(before);
    agentWrites();
    expect(await checkHealth(d.deps, { deadlineMs: 60_000 })).toMatchObject({ outcome: { text: 'rolled back from 0.3.0: the install did not finish (slot B was being written)' } });
    d.system.otherVersion = '0.3.0';
    d.system.otherStatus = 'ok';
    await files.writePending({ ...before, installed: true });
    agentWrites();
    expect(await checkHealth(d.deps, { deadlineMs: 60_000 })).toMatchObject({ outcome: { kind: 'rolled-back', text: 'rolled back from 0.3.0: did not boot' } });
  });

  it('installed during this boot (no restart yet): nothing is judged or marked', async () => {
    await files.writePending({ ...before, bootId: 'boot-1' });
    expect(await checkHealth(d.deps, { deadlineMs: 60_000 })).toEqual({ action: 'awaiting-reboot' });
    expect(raucCalls(d)).toEqual(['status']);
    expect(await files.readPending()).not.toBeNull();
  });

  it('a malformed pending file is an error, not a silent pass', async () => {
    await files.writePending({ ...before, target: 'latest' } as unknown as PendingUpdate);
    await expect(checkHealth(d.deps)).rejects.toThrow(/update-pending\.json.*target/);
  });
});
