// The network manifest: signed by the root, versions that only grow by bounded steps, one genesis.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { refusal } from '../../refusal.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { manifestMessage, MAX_VERSION_STEP, verifyManifest, type NetworkManifest } from '../../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';

const keys = new NetworkKeys({ network: 'testnet', members: 7 });
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const genesis = { hash: new Uint8Array(32).fill(1), height: 0, timestamp: 1_700_000_000_000 };
const content = (version: number, extra: Partial<Parameters<NetworkKeys['manifest']>[0]> = {}) => ({ version, params: DEFAULT_PARAMS, primaries: [clerk], genesis, ...extra });
const root = keys.root.publicKey;

describe('network manifest', () => {
  it('verifies under the root key and gives the node its params, primaries, committee and genesis', () => {
    const m = verifyManifest(JSON.parse(JSON.stringify(keys.manifest(content(3)))), root, 'testnet');
    expect(m.params).toEqual({ ...DEFAULT_PARAMS, version: 3 });
    expect(m.primaries.get(spkiOf(clerk))).toBeDefined();
    expect(keyFingerprint(spkiOf(clerk))).toHaveLength(64);
    expect(m.committee.size).toBe(7);
    expect(m.committee.quorum).toBe(5);
    expect(m.genesis).toEqual(genesis);
  });

  it('refuses a changed field, another key and another network', () => {
    const signed = keys.manifest(content(3));
    expect(refusal(() => verifyManifest({ ...signed, params: { ...signed.params, sealZeros: 0 } }, root, 'testnet'))).toMatch(/ERR_PROTOCOL_MANIFEST .*signature does not verify/);
    expect(refusal(() => verifyManifest({ ...signed, committee: { ...signed.committee, quorum: 7 } }, root, 'testnet'))).toMatch(/signature does not verify/);
    const other = new NetworkKeys({ network: 'testnet', members: 3 });
    expect(refusal(() => verifyManifest(signed, other.root.publicKey, 'testnet'))).toMatch(/signature does not verify/);
    expect(refusal(() => verifyManifest(signed, root, 'othernet'))).toMatch(/is for network "testnet"/);
  });

  it('refuses unknown keys, uppercase hex and a minority quorum, naming the field', () => {
    const signed = keys.manifest(content(3));
    expect(refusal(() => manifestMessage.read({ ...signed, extra: 1 }))).toBe('ERR_PROTOCOL_MALFORMED manifest.extra: unknown key');
    expect(refusal(() => verifyManifest({ ...signed, signature: signed.signature.toUpperCase() }, root, 'testnet'))).toMatch(/manifest.signature: expected lowercase hex/);
    expect(refusal(() => keys.manifest(content(3), keys.members, 3))).toMatch(/committee.quorum: must be a majority/);
    expect(refusal(() => manifestMessage.parse(' '.repeat(256 * 1024 + 1)))).toMatch(/ERR_PROTOCOL_OVERSIZE/);
  });

  it('takes only newer versions, by bounded steps, with the same genesis', () => {
    const held: NetworkManifest = verifyManifest(keys.manifest(content(10)), root, 'testnet');
    expect(verifyManifest(keys.manifest(content(11)), root, 'testnet', held).version).toBe(11);
    expect(refusal(() => verifyManifest(keys.manifest(content(9)), root, 'testnet', held))).toMatch(/version 9 is older than version 10/);
    expect(verifyManifest(keys.manifest(content(10)), root, 'testnet', held).version).toBe(10); // the same one again
    const sameVersionOther = keys.manifest(content(10, { params: { ...DEFAULT_PARAMS, sealZeros: 9 } }));
    expect(refusal(() => verifyManifest(sameVersionOther, root, 'testnet', held))).toMatch(/version 10 is held with other content/);
    expect(refusal(() => verifyManifest(keys.manifest(content(10 + MAX_VERSION_STEP + 1)), root, 'testnet', held))).toMatch(/jumps more than/);
    expect(verifyManifest(keys.manifest(content(10 + MAX_VERSION_STEP)), root, 'testnet', held).version).toBe(10 + MAX_VERSION_STEP);
    const otherGenesis = keys.manifest(content(12, { genesis: { ...genesis, hash: new Uint8Array(32).fill(2) } }));
    expect(refusal(() => verifyManifest(otherGenesis, root, 'testnet', held))).toMatch(/another genesis/);
  });
});
