// The rotation chain walk: a node given an old root key follows the root's announcements key by
// key to the current manifest's signer, and nothing else: a forged, reordered, truncated or
// oversized chain is refused by name, and a past window never makes the old key good again.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { refusal } from '../../refusal.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { signManifest, verifyManifest, type ManifestBody, type SignedManifest } from '../../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { MAX_ROOT_CHAIN_LINKS, ROOT_CHAIN_FORMAT, walkRootChain, type ChainStart } from '../../../firmware/protocol/root-chain.ts';
import type { RootRotation } from '../../../firmware/protocol/root-keys.ts';
import { generateEd25519, type Ed25519Key } from '../../../provisioning/keys.ts';

const DAY = 24 * 3600_000;
const T0 = Date.parse('2027-01-01T00:00:00Z');
const [K1, K2, K3, X] = [generateEd25519().key, generateEd25519().key, generateEd25519().key, generateEd25519().key];
const hex = (k: Ed25519Key): string => toHex(k.publicKey);
// K1 hands over to K2 (window days 10..40), then K2 to K3 (days 100..130); "now" is day 200.
const R1: RootRotation = { previous: hex(K1), next: hex(K2), from: T0 + 10 * DAY, until: T0 + 40 * DAY };
const R2: RootRotation = { previous: hex(K2), next: hex(K3), from: T0 + 100 * DAY, until: T0 + 130 * DAY };
const NOW = T0 + 200 * DAY;

const template = new NetworkKeys({ network: 'chainnet', members: 3 }).manifest({
  version: 1, params: DEFAULT_PARAMS, primaries: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  genesis: { hash: new Uint8Array(32).fill(3), height: 0, timestamp: 1 },
});
const { format: _f, signature: _s, rootRotation: _r, ...base } = template;

function manifest(version: number, by: Ed25519Key, r?: RootRotation, over: Partial<ManifestBody> = {}): SignedManifest {
  return signManifest({ ...base, version, ...(r === undefined ? {} : { rootRotation: r }), ...over }, by.privateKeyObject);
}

const link1 = manifest(2, K1, R1);
const link2 = manifest(5, K2, R2);
const current = manifest(9, K3);
const chain = (manifests: readonly unknown[], network = 'chainnet'): unknown => ({ format: ROOT_CHAIN_FORMAT, network, manifests });
const given = (k: Ed25519Key): ChainStart => ({ anchors: [k.publicKey], held: null });

describe('root key rotation chain: the walk', () => {
  it('walks two rotations from the first key to the current manifest, which K1 alone never verifies', () => {
    expect(refusal(() => verifyManifest(current, K1.publicKey, 'chainnet', null, NOW))).toMatch(/^ERR_PROTOCOL_MANIFEST .*does not verify/);
    const walk = walkRootChain(chain([link1, link2]), current, given(K1), 'chainnet', NOW);
    expect(walk.keys).toEqual([hex(K1), hex(K2), hex(K3)]);
    expect(walk.manifest.version).toBe(9);
    expect(toHex(walk.manifest.signer)).toBe(hex(K3));
    expect(walk.manifest.rootKeys.at(NOW).map((k) => toHex(k))).toEqual([hex(K3)]);
    // A node given K2 (a newer image) starts at the second link.
    expect(walkRootChain(chain([link1, link2]), current, given(K2), 'chainnet', NOW).keys).toEqual([hex(K2), hex(K3)]);
  });

  it('inside the last window the current manifest may come from either key, and keeps the window', () => {
    const inWindow = T0 + 110 * DAY;
    const byOld = manifest(6, K2, R2);
    const byNew = manifest(7, K3, R2);
    expect(walkRootChain(chain([link1, link2]), byOld, given(K1), 'chainnet', inWindow).manifest.rootKeys.at(inWindow).length).toBe(2);
    expect(walkRootChain(chain([link1, link2]), byNew, given(K1), 'chainnet', inWindow).manifest.version).toBe(7);
    // The announcement itself is the current manifest.
    expect(walkRootChain(chain([link1, link2]), link2, given(K1), 'chainnet', inWindow).manifest.version).toBe(5);
    expect(refusal(() => walkRootChain(chain([link1, link2]), manifest(8, K3), given(K1), 'chainnet', inWindow)))
      .toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_END .*withdraws the rotation/);
  });

  it('a past window authorizes the next key only: the old key\'s signatures now are refused', () => {
    // K2's window ended at day 130; a manifest K2 signs at day 200 is not the current manifest's signer the chain allows.
    expect(refusal(() => walkRootChain(chain([link1, link2]), manifest(9, K2, R2), given(K1), 'chainnet', NOW)))
      .toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_END the current manifest is not signed by a root key the rotation chain ends with that is valid now/);
    // And K1, long retired, cannot sign the current manifest after one link either.
    expect(refusal(() => walkRootChain(chain([link1]), manifest(9, K1, R1), given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_END/);
  });

  it('refuses a forged link: signed by a key other than the one held at its step', () => {
    const forged = manifest(5, X, { ...R2, previous: hex(K2), next: hex(X) });
    expect(refusal(() => walkRootChain(chain([link1, forged]), manifest(9, X), given(K1), 'chainnet', NOW)))
      .toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_SIGNER link 1 \(manifest version 5\) does not verify under root key [0-9a-f]{16}…, the key held at that step/);
    // A link announcing its own key as next, signed by it (chain rule 3: only the retiring key announces).
    const selfSigned = manifest(5, K3, R2);
    expect(refusal(() => walkRootChain(chain([link1, selfSigned]), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_SIGNER link 1/);
    // A tampered link: the signature no longer covers the window.
    const tampered = { ...link2, rootRotation: { ...R2, until: R2.until + DAY } };
    expect(refusal(() => walkRootChain(chain([link1, tampered]), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_SIGNER link 1/);
  });

  it('refuses a reordered chain', () => {
    expect(refusal(() => walkRootChain(chain([link2, link1]), current, given(K1), 'chainnet', NOW)))
      .toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN link 1 \(version 2\) retires root key [0-9a-f]{16}…, but the link before it handed over to /);
    // Same keys, versions going back.
    const late1 = manifest(7, K1, R1);
    expect(refusal(() => walkRootChain(chain([late1, link2]), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN link 1 has version 5, not above the previous link's 7/);
  });

  it('refuses a truncated chain: missing its start, or ending before the current signer', () => {
    expect(refusal(() => walkRootChain(chain([link2]), current, given(K1), 'chainnet', NOW)))
      .toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN no link of the rotation chain \(1\) retires a root key this node holds/);
    expect(refusal(() => walkRootChain(chain([link1]), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_END the current manifest is not signed/);
    expect(refusal(() => walkRootChain(chain([]), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN no link/);
  });

  it('refuses a node whose key the chain never names', () => {
    expect(refusal(() => walkRootChain(chain([link1, link2]), current, given(X), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN no link .*retires a root key this node holds/);
  });

  it('refuses an oversized or malformed answer before verifying anything', () => {
    const many = Array.from({ length: MAX_ROOT_CHAIN_LINKS + 1 }, () => link1);
    expect(refusal(() => walkRootChain(chain(many), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN rotations\.manifests: .*0\.\.32 items/);
    expect(refusal(() => walkRootChain({ ...chain([link1, link2]) as object, extra: 1 }, current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN rotations/);
    expect(refusal(() => walkRootChain(chain([link1, link2], 'othernet'), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN .*network "othernet"/);
    expect(refusal(() => walkRootChain(chain([link1, manifest(4, K2)]), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN link 1 .*announces no root key rotation/);
  });

  it('refuses a chain of another genesis, and a current manifest not above the one held', () => {
    const otherGenesis = manifest(5, K2, R2, { genesis: { ...base.genesis, height: 7 } });
    expect(refusal(() => walkRootChain(chain([link1, otherGenesis]), current, given(K1), 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_BROKEN link 1 names another genesis/);
    const held = verifyManifest(manifest(12, K1), K1.publicKey, 'chainnet', null, T0);
    expect(refusal(() => walkRootChain(chain([link1, link2]), current, { anchors: [], held }, 'chainnet', NOW))).toMatch(/^ERR_PROTOCOL_ROOT_CHAIN_END .*not above version 12 held/);
    // A node that held version 1 under K1 through both windows follows.
    const old = verifyManifest(manifest(1, K1), K1.publicKey, 'chainnet', null, T0);
    expect(walkRootChain(chain([link1, link2]), current, { anchors: [], held: old }, 'chainnet', NOW).manifest.version).toBe(9);
  });
});
