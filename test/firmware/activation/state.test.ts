// activation.json is read through its reader: what writeActivationState wrote comes back equal;
// anything else is ERR_ACTIVATION_STATE naming the file and the field it refuses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ActivationError } from '../../../firmware/activation/errors.ts';
import { readActivationState, writeActivationState, type ActivationState } from '../../../firmware/activation/state.ts';

const dir = mkdtempSync(join(tmpdir(), 'btn-activation-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const state: ActivationState = {
  format: 'btn-activation/v1', status: 'revoked', nodeId: 'ab'.repeat(32), certificate: { format: 'btn-registration/v1' },
  rootUrl: 'http://root.example/', activatedAt: '2026-01-01T00:00:00.000Z', revocationVersion: 3, revokedAt: '2026-02-01T00:00:00.000Z', revokedReason: 'stolen',
};

async function refusal(content: unknown): Promise<string> {
  writeFileSync(join(dir, 'activation.json'), typeof content === 'string' ? content : JSON.stringify(content));
  const err = await readActivationState(dir).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ActivationError);
  expect((err as ActivationError).code).toBe('ERR_ACTIVATION_STATE');
  return (err as Error).message.replace(join(dir, 'activation.json'), 'FILE');
}

describe('activation state file', () => {
  it('reads back what was written, and null when there is none', async () => {
    expect(await readActivationState(join(dir, 'none'))).toBeNull();
    await writeActivationState(dir, state);
    expect(await readActivationState(dir)).toEqual(state);
    const { revokedAt: _a, revokedReason: _r, ...active } = { ...state, status: 'active' as const };
    await writeActivationState(dir, active);
    expect(await readActivationState(dir)).toEqual(active);
  });

  it('refuses anything else, naming the field', async () => {
    const why = (w: string): string => `FILE is not a valid activation state (${w}); move it away to activate again`;
    expect(await refusal('{')).toBe(why('not JSON'));
    expect(await refusal([state])).toBe(why('activation: expected object'));
    expect(await refusal({ ...state, format: 'btn-activation/v2' })).toBe(why('activation.format: expected "btn-activation/v1"'));
    expect(await refusal({ ...state, status: 'filed' })).toBe(why('activation.status: expected one of active, revoked'));
    expect(await refusal({ ...state, nodeId: 'f'.repeat(63) })).toBe(why('activation.nodeId: expected lowercase hex of 32 bytes'));
    expect(await refusal({ ...state, certificate: null })).toBe(why('activation.certificate: expected object of at most 32 keys'));
    expect(await refusal({ ...state, revocationVersion: -1 })).toBe(why('activation.revocationVersion: expected integer in 0..9007199254740991'));
    expect(await refusal({ ...state, revokedReason: 5 })).toBe(why('activation.revokedReason: expected string of 0..1024 characters'));
    expect(await refusal({ ...state, extra: true })).toBe(why('activation.extra: unknown key'));
    expect(await refusal(`"${'x'.repeat(300 * 1024)}"`)).toMatch(/\(\d+ bytes\)/);
  });
});
