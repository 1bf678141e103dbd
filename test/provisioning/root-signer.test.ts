// Which root key the registrar signs with, following the manifest it holds: before a rotation its
// root key; in the window the announced next key; after it, the new key, also once the held
// manifest is the new key's own (no window in it) while the registrar still holds the old key.
import { describe, expect, it } from 'vitest';
import { toHex } from '../../firmware/core/bytes.ts';
import type { NetworkManifest } from '../../firmware/protocol/network-manifest.ts';
import { RootKeys } from '../../firmware/protocol/root-keys.ts';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { RootSigner } from '../../provisioning/server/root-signer.ts';

const DAY = 86_400_000;
const held = (rootKeys: RootKeys): NetworkManifest => ({ rootKeys }) as unknown as NetworkManifest;

describe('RootSigner', () => {
  const old = generateEd25519().key;
  const next = generateEd25519().key;
  const t0 = 1_800_000_000_000;
  const rotation = { previous: toHex(old.publicKey), next: toHex(next.publicKey), from: t0 + DAY, until: t0 + 31 * DAY };

  it('signs with the root key, then the next key from the window on, then the new key after it', () => {
    let now = t0;
    const signer = new RootSigner(old, next, () => now);
    signer.follow(held(RootKeys.single(old.publicKey)));
    expect(signer.current()).toBe(old);
    expect(signer.problem()).toMatch(/no network manifest announces it yet/);
    signer.follow(held(RootKeys.of(old.publicKey, rotation)));
    expect([signer.current(), signer.problem()]).toEqual([old, null]);
    now = t0 + DAY;
    expect(signer.current()).toBe(next);
    now = t0 + 40 * DAY;
    expect(signer.current()).toBe(next);
    // The new key's own manifest, without the window: still the new key, and a hint to drop the old one.
    signer.follow(held(RootKeys.single(next.publicKey)));
    expect(signer.current()).toBe(next);
    expect(signer.problem()).toMatch(/is over and it signs; start with --root-key naming it alone/);
  });

  it('never goes back to an older manifest than it follows (a re-read that raced a publish)', () => {
    const signer = new RootSigner(old, next, () => t0 + 2 * DAY);
    const v = (version: number, rootKeys: RootKeys): NetworkManifest => ({ version, rootKeys }) as unknown as NetworkManifest;
    expect(signer.version).toBeNull();
    expect(signer.follow(v(3, RootKeys.of(old.publicKey, rotation)))).toBe(true);
    expect(signer.follow(v(2, RootKeys.single(old.publicKey)))).toBe(false);
    expect([signer.version, signer.current()]).toEqual([3, next]);
    expect(signer.follow(v(4, RootKeys.single(next.publicKey)))).toBe(true);
    expect(signer.version).toBe(4);
  });

  it('keeps its root key when the window names a key it does not hold, and says so', () => {
    const signer = new RootSigner(old, null, () => t0 + 2 * DAY);
    signer.follow(held(RootKeys.of(old.publicKey, rotation)));
    expect(signer.current()).toBe(old);
    expect(signer.problem()).toMatch(/does not hold that key/);
  });
});
