// The household's headline for each state, and the one rule it shares with the status LED.
import { describe, expect, it } from 'vitest';
import { headlineOf, householdState, JOURNAL_FAULT_KEY, NETWORK_FAULT_KEY } from '../../../firmware/status/index.ts';
import { patternFor } from '../../../firmware/led/index.ts';
import { snapshot } from './fixtures.ts';

const today = { tested: 1204, sealed: 3 };
const fault = (key: string, message: string): { key: string; code: string; message: string; since: number } => ({ key, code: 'ERR_X', message, since: 1 });

describe('headline', () => {
  it('working: tested and sealed today, with thousands separated', () => {
    const h = headlineOf(snapshot(), today);
    expect(h).toMatchObject({ state: 'working', title: 'Working: tested 1,204 blocks today, sealed 3', action: '' });
    expect(headlineOf(snapshot(), { tested: 1, sealed: 0 }).title).toBe('Working: tested 1 block today, sealed 0');
  });

  it('waiting for the network: no manifest yet, or the broker away (with its failure)', () => {
    const noManifest = headlineOf(snapshot({ faults: [fault(NETWORK_FAULT_KEY, 'waiting for the network manifest')] }), today);
    expect(noManifest).toMatchObject({ state: 'waiting', title: 'Waiting for the network' });
    const away = headlineOf(snapshot({ broker: { connected: false, state: 'reconnecting', failure: 'ECONNREFUSED 10.0.0.2:1883' } }), today);
    expect(away).toMatchObject({ state: 'waiting', title: 'Waiting for the network' });
    expect(away.detail).toContain('ECONNREFUSED 10.0.0.2:1883');
    expect(away.action).toMatch(/network cable or Wi-Fi/);
  });

  it('waiting: activation, the TPM, a broker that refuses the device', () => {
    expect(headlineOf(snapshot({ activation: { state: 'not-activated', reason: 'not activated yet; activating with the root node at https://root' } }), today))
      .toMatchObject({ state: 'waiting', title: 'Waiting for activation', detail: 'not activated yet; activating with the root node at https://root' });
    expect(headlineOf(snapshot({ tpm: null, broker: { connected: false, state: 'offline' } }), today)).toMatchObject({ state: 'waiting', title: 'Waiting for the TPM chip' });
    expect(headlineOf(snapshot({ broker: { connected: false, state: 'offline', refused: 3, refusal: 'bad user name or password' } }), today))
      .toMatchObject({ title: 'Waiting for the network: the broker refuses this device', detail: 'bad user name or password' });
  });

  it('needs you: revoked, or a memory card that cannot be written; each says what to do', () => {
    const revoked = headlineOf(snapshot({ activation: { state: 'revoked', reason: 'revoked by the root node: key compromised' } }), today);
    expect(revoked).toMatchObject({ state: 'needs-you', title: 'Needs you: the network has revoked this device', detail: 'revoked by the root node: key compromised' });
    expect(revoked.action).not.toBe('');
    const disk = headlineOf(snapshot({ faults: [fault(JOURNAL_FAULT_KEY, 'the disk is full (ENOSPC) at /var/lib/btn-node/seal-journal')] }), today);
    expect(disk).toMatchObject({ state: 'needs-you', title: 'Needs you: the memory card cannot be written' });
    expect(disk.detail).toContain('ENOSPC');
    expect(disk.action).toMatch(/Free space/);
  });

  it('the status light follows the same rule', () => {
    const cases = [
      snapshot(), snapshot({ state: 'stopped' }), snapshot({ activation: { state: 'revoked' } }), snapshot({ broker: { connected: false, state: 'offline' } }),
      snapshot({ faults: [fault(JOURNAL_FAULT_KEY, 'full')] }), snapshot({ faults: [fault(NETWORK_FAULT_KEY, 'none yet')] }),
      snapshot({ update: { state: 'downloading', version: '0.3.0' } }), snapshot({ update: { state: 'waiting', version: '0.3.0' } }),
    ];
    const pattern = { working: 'on-pulse', waiting: 'slow-blink', 'needs-you': 'fast-blink', updating: 'updating', stopped: 'off' } as const;
    for (const s of cases) expect(patternFor(s)).toBe(pattern[householdState(s)]);
    expect(cases.map((s) => householdState(s))).toEqual(['working', 'stopped', 'needs-you', 'waiting', 'needs-you', 'waiting', 'updating', 'working']);
  });

  it('updating: downloading an announced update, then installing it; waiting for its moment is still working', () => {
    const down = headlineOf(snapshot({ update: { state: 'downloading', version: '0.3.0' } }), today);
    expect(down).toMatchObject({ state: 'updating', title: 'Updating to 0.3.0', action: '' });
    expect(down.detail).toMatch(/^Downloading the update the network announced/);
    const installing = headlineOf(snapshot({ update: { state: 'requested', version: '0.3.0' } }), today);
    expect(installing).toMatchObject({ state: 'updating', title: 'Updating to 0.3.0', action: 'Leave the device plugged in.' });
    // A revoked device that downloads still needs its household first.
    expect(householdState(snapshot({ activation: { state: 'revoked' }, update: { state: 'downloading' } }))).toBe('needs-you');
  });
});
