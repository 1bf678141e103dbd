// The node's root keys through a rotation: stored before the manifest that brings them, used
// again after a restart, and a forged announcement changes nothing on disk or in memory.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toHex } from '../../../firmware/core/bytes.ts';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { NetworkState, ROOT_KEYS_FILE, type NetworkSource } from '../../../firmware/node/network-state.ts';
import { signManifest, type SignedManifest } from '../../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import type { RootRotation } from '../../../firmware/protocol/root-keys.ts';
import { generateEd25519, type Ed25519Key } from '../../../provisioning/keys.ts';

const DAY = 24 * 3600_000;
const T0 = Date.parse('2027-01-01T00:00:00Z');
const K = generateEd25519().key;
const N = generateEd25519().key;
const X = generateEd25519().key;
const template = new NetworkKeys({ network: 'rotnet', members: 3 }).manifest({
  version: 1, params: DEFAULT_PARAMS, primaries: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  genesis: { hash: new Uint8Array(32).fill(3), height: 0, timestamp: 1 },
});
const { format: _f, signature: _s, ...base } = template;
const window: RootRotation = { previous: toHex(K.publicKey), next: toHex(N.publicKey), from: T0 + DAY, until: T0 + 31 * DAY };
const manifest = (version: number, by: Ed25519Key, r?: RootRotation): SignedManifest => signManifest({ ...base, version, ...(r === undefined ? {} : { rootRotation: r }) }, by.privateKeyObject);
const source: NetworkSource = { kind: 'signed', network: 'rotnet', rootPublicKey: K.publicKey };

let dir: string;
let clock: ManualClock;
const open = (): Promise<NetworkState> => NetworkState.open({ source, file: join(dir, 'network-manifest.json'), clock });
const storedKeys = async (): Promise<string[]> => (JSON.parse(await readFile(join(dir, ROOT_KEYS_FILE), 'utf8')) as { keys: string[] }).keys;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-root-rotation-'));
  clock = new ManualClock(T0);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('NetworkState through a root key rotation', () => {
  it('stores the announced key before acting, and after a restart past the window follows the new key', async () => {
    const s = await open();
    expect(await s.offer(manifest(1, K), 'root')).toEqual({ outcome: 'taken', version: 1 });
    expect(await storedKeys()).toEqual([toHex(K.publicKey)]);
    expect(await s.offer(manifest(2, K, window), 'broker')).toEqual({ outcome: 'taken', version: 2 });
    expect(await storedKeys()).toEqual([toHex(K.publicKey), toHex(N.publicKey)]);
    expect(s.rootKeys?.describe()).toEqual([
      { publicKey: toHex(K.publicKey), until: new Date(window.until).toISOString() },
      { publicKey: toHex(N.publicKey), from: new Date(window.from).toISOString() },
    ]);
    s.close();

    // Off through the whole window: back, it holds the announcement and takes the new key's manifest.
    clock.tick(window.until + 10 * DAY - clock.now());
    const back = await open();
    expect(back.current?.version).toBe(2);
    expect(await back.offer(manifest(3, K, window), 'broker')).toMatchObject({ outcome: 'refused', code: 'ERR_PROTOCOL_ROOT_KEY' });
    // The announcement itself, delivered again (the root still serves it): held, not refused.
    expect(await back.offer(JSON.parse(await readFile(join(dir, 'network-manifest.json'), 'utf8')), 'root')).toEqual({ outcome: 'held', version: 2 });
    expect(await back.offer(manifest(3, N), 'root')).toEqual({ outcome: 'taken', version: 3 });
    back.close();

    // The stored manifest is signed by N, which the config does not name: the stored keys verify it.
    const again = await open();
    expect(again.current?.version).toBe(3);
    expect(again.rootKeys?.at(clock.now())).toEqual([N.publicKey]);
    again.close();
  });

  it('says what it needs when it missed the announcement, and trusts nothing', async () => {
    const s = await open();
    await s.offer(manifest(1, K), 'root');
    clock.tick(window.until + DAY - clock.now());
    const offer = await s.offer(manifest(3, N, window), 'root');
    expect(offer).toMatchObject({ outcome: 'refused', code: 'ERR_PROTOCOL_ROOT_KEY' });
    expect(offer.outcome === 'refused' && offer.message).toMatch(new RegExp(`needs the manifest signed by root key ${toHex(K.publicKey).slice(0, 16)}… that announces ${toHex(N.publicKey).slice(0, 16)}`));
    expect(s.current?.version).toBe(1);
    s.close();
  });

  it('drops a forged announcement: memory, the stored manifest and the stored keys stay as they were', async () => {
    const s = await open();
    await s.offer(manifest(1, K), 'root');
    const before = [await readFile(join(dir, 'network-manifest.json')), await readFile(join(dir, ROOT_KEYS_FILE))];
    const forged = manifest(2, X, { ...window, next: toHex(X.publicKey) });
    // Signed by X; and K's valid announcement with X's key swapped in (the signature no longer fits).
    expect(await s.offer(forged, 'broker')).toMatchObject({ outcome: 'refused', code: 'ERR_PROTOCOL_ROOT_KEY' });
    const swapped = { ...manifest(2, K, window), rootRotation: { ...window, next: toHex(X.publicKey) } };
    expect(await s.offer(swapped, 'broker')).toMatchObject({ outcome: 'refused', code: 'ERR_PROTOCOL_MANIFEST' });
    expect(s.current?.version).toBe(1);
    expect(s.rootKeys?.at(T0 + 5 * DAY)).toEqual([K.publicKey]);
    expect(await readFile(join(dir, 'network-manifest.json'))).toEqual(before[0]);
    expect(await readFile(join(dir, ROOT_KEYS_FILE))).toEqual(before[1]);
    s.close();
  });
});
