// ActivationGate against scripted roots over real HTTP, in virtual time (injected sleep): it
// activates on first start, backs off while the root is down, obeys only verified and
// non-rolled-back revocation lists, and stays revoked across restarts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ActivationGate } from '../../../firmware/activation/gate.ts';
import { ActivationError } from '../../../firmware/activation/errors.ts';
import { readActivationState } from '../../../firmware/activation/state.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { signRevocationList } from '../../../provisioning/registration/revocation-list.ts';
import { json, routeHappyPath, softTpm, startFakeRoot, type FakeRoot } from './fake-root.ts';

const rootKey = generateEd25519().key;
let root: FakeRoot;
let dir: string;
let n = 0;
const gates: ActivationGate[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-gate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const g of gates.splice(0)) await g.stop();
  await root?.close();
});

/** Virtual sleep: records the delay and returns at once (or when stopped). */
function virtualSleep(delays: number[]) {
  return async (ms: number): Promise<void> => {
    delays.push(ms);
    await new Promise((r) => setImmediate(r));
  };
}

function gate(tpm = softTpm(), over: Partial<ConstructorParameters<typeof ActivationGate>[0]> = {}, delays: number[] = []) {
  const g = new ActivationGate({
    rootUrl: root.url, rootPublicKey: rootKey.publicKey, tpm, stateDir: join(dir, `s${++n}`),
    sleep: virtualSleep(delays), random: () => 0.5, revocationPollMs: 1000, ...over,
  });
  gates.push(g);
  return g;
}

const list = (version: number, nodeIds: string[], key = rootKey) =>
  signRevocationList(key, version, new Date().toISOString(), nodeIds.map((nodeId) => ({ nodeId, ekName: 'ab'.repeat(32), revokedAt: '2026-11-23T00:00:00.000Z', reason: 'stolen' })));

describe('ActivationGate', () => {
  it('is not-activated before start, retries with growing jittered delays while the root fails, then turns active', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    let failures = 3;
    routeHappyPath(root, rootKey, tpm);
    root.route('POST', '/v1/activation/challenge', (_q, _b, res) => {
      if (failures-- > 0) return json(res, 503, { error: { code: 'ERR_PROV_STORE', message: 'store down' } });
      json(res, 200, { challengeId: 'c'.repeat(32), credentialBlob: '0002abcd', encryptedSecret: '0002abcd', expiresAt: new Date().toISOString() });
    });
    root.route('GET', '/v1/revocations', (_q, _b, res) => json(res, 200, list(0, [])));
    const delays: number[] = [];
    const g = gate(tpm, {}, delays);
    expect(g.current().state).toBe('not-activated');
    const seen: string[] = [];
    g.onChange((s) => seen.push(s.state === 'not-activated' ? `not-activated: ${s.reason}` : s.state));
    await g.start();
    const s = await g.waitFor((x) => x.state === 'active');
    expect(s).toMatchObject({ state: 'active', nodeId: tpm.nodeId });
    expect(s.state === 'active' && s.registration?.['nodeId']).toBe(tpm.nodeId);
    // Full jitter with random()=0.5: half of 1 s, 2 s, 4 s.
    expect(delays.slice(0, 3)).toEqual([500, 1000, 2000]);
    expect(seen.some((x) => /root node at http:\/\/127\.0\.0\.1:\d+ failed \(HTTP 503\).*retrying in/.test(x))).toBe(true);
  });

  it('an active node (stored) is active as soon as start() resolves; a verified list naming it revokes it for good', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    routeHappyPath(root, rootKey, tpm);
    let current = list(1, []);
    root.route('GET', '/v1/revocations', (_q, _b, res) => json(res, 200, current));
    const first = gate(tpm);
    await first.start();
    await first.waitFor((s) => s.state === 'active');
    await first.stop();
    const stateDir = join(dir, `s${n}`);
    const g = gate(tpm, { stateDir });
    await g.start();
    expect(g.current().state).toBe('active');
    await g.pollRevocations();
    expect((await readActivationState(stateDir))?.revocationVersion).toBe(1);
    current = list(2, ['0'.repeat(64), tpm.nodeId]);
    await g.pollRevocations();
    expect(g.current()).toEqual({ state: 'revoked', nodeId: tpm.nodeId, reason: 'revoked by the root node: stolen' });
    expect(await readActivationState(stateDir)).toMatchObject({ status: 'revoked', revocationVersion: 2, revokedReason: 'stolen' });
    await g.stop();
    // After a restart with the root gone, it is still revoked.
    await root.close();
    const again = gate(tpm, { stateDir });
    await again.start();
    expect(again.current().state).toBe('revoked');
  });

  it('a forged list or an older (replayed) list changes nothing', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    routeHappyPath(root, rootKey, tpm);
    let current = list(5, []);
    root.route('GET', '/v1/revocations', (_q, _b, res) => json(res, 200, current));
    const g = gate(tpm);
    await g.start();
    await g.waitFor((s) => s.state === 'active');
    await g.pollRevocations();
    current = list(6, [tpm.nodeId], generateEd25519().key);
    const forged = await g.pollRevocations().then(() => null, (e: unknown) => e);
    expect(forged).toBeInstanceOf(ActivationError);
    expect((forged as Error).message).toMatch(/signature does not verify/);
    current = list(4, [tpm.nodeId]);
    expect(((await g.pollRevocations().then(() => null, (e: unknown) => e)) as Error).message).toMatch(/older than version 5/);
    expect(g.current().state).toBe('active');
  });

  it('a list pushed over MQTT is verified like a polled one: forged and older lists refused, a list naming the node revokes it', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    routeHappyPath(root, rootKey, tpm);
    root.route('GET', '/v1/revocations', (_q, _b, res) => json(res, 200, list(2, [])));
    const g = gate(tpm);
    await g.start();
    await g.waitFor((s) => s.state === 'active');
    await g.pollRevocations();
    const forged = await g.applyRevocationList(list(3, [tpm.nodeId], generateEd25519().key)).then(() => null, (e: unknown) => e);
    expect((forged as Error).message).toMatch(/pushed revocation list: .*signature does not verify/);
    expect(((await g.applyRevocationList(list(1, [tpm.nodeId])).then(() => null, (e: unknown) => e)) as Error).message).toMatch(/older than version 2/);
    expect(((await g.applyRevocationList('garbage').then(() => null, (e: unknown) => e)) as Error)).toBeInstanceOf(ActivationError);
    expect(g.current().state).toBe('active');
    await g.applyRevocationList(list(3, [tpm.nodeId]));
    expect(g.current().state).toBe('revoked');
  });

  it('a 403 revoked answer during activation turns the gate revoked and stops trying', async () => {
    root = await startFakeRoot();
    root.route('POST', '/v1/activation/challenge', (_q, _b, res) => json(res, 403, { error: { code: 'ERR_PROV_REVOKED', message: 'node x is revoked' } }));
    const delays: number[] = [];
    const g = gate(softTpm(), {}, delays);
    await g.start();
    const s = await g.waitFor((x) => x.state === 'revoked');
    expect(s.state === 'revoked' && s.reason).toMatch(/node x is revoked/);
    expect(delays).toEqual([]);
  });

  it('refuses a root key that is not 32 bytes', () => {
    expect(() => new ActivationGate({ rootUrl: 'http://x', rootPublicKey: new Uint8Array(31), tpm: softTpm(), stateDir: dir })).toThrow(/32-byte Ed25519/);
  });
});
