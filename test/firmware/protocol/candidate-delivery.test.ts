// The manifest's candidateDelivery: optional ('full' when absent, so manifests signed before it
// keep their signed bytes and verify), covered by the root's signature when present, and refused
// by name when it is anything but 'full' or 'header-first'.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { refusal } from '../../refusal.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { manifestSignedBytes, verifyManifest } from '../../../firmware/protocol/network-manifest.ts';
import { candidateDeliveryOf, DEFAULT_PARAMS, paramsMessage } from '../../../firmware/protocol/params.ts';

const keys = new NetworkKeys({ network: 'testnet', members: 3 });
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const genesis = { hash: new Uint8Array(32).fill(1), height: 0, timestamp: 1_700_000_000_000 };
const root = keys.root.publicKey;

describe('candidateDelivery in the network manifest', () => {
  it('absent means full, and a manifest without it signs the same bytes as before the field existed', () => {
    const signed = keys.manifest({ version: 1, params: DEFAULT_PARAMS, primaries: [clerk], genesis });
    const m = verifyManifest(JSON.parse(JSON.stringify(signed)), root, 'testnet');
    expect(m.params.candidateDelivery).toBeUndefined();
    expect(candidateDeliveryOf(m.params)).toBe('full');
    const p = signed.params;
    const before = `btn-manifest/v1\n${JSON.stringify([
      'btn-manifest/v1', signed.network, signed.version, signed.validFrom,
      [p.sealZeros, p.clerkZeros, p.spinIntervalMs, p.maxRounds, p.sealDeadlineMs, p.timestampWindowMs, p.maxBlockTxs, p.maxBlockBytes],
      signed.primaries, signed.committee.members, signed.committee.quorum, [signed.genesis.hash, signed.genesis.height, signed.genesis.timestamp],
    ])}`;
    expect(Buffer.from(manifestSignedBytes(signed)).toString('utf8')).toBe(before);
  });

  it('header-first is carried and signed: taking it out or changing it breaks the signature', () => {
    const signed = keys.manifest({ version: 2, params: { ...DEFAULT_PARAMS, candidateDelivery: 'header-first' }, primaries: [clerk], genesis });
    const m = verifyManifest(JSON.parse(JSON.stringify(signed)), root, 'testnet');
    expect(candidateDeliveryOf(m.params)).toBe('header-first');
    const { candidateDelivery: _dropped, ...without } = signed.params;
    expect(refusal(() => verifyManifest({ ...signed, params: without }, root, 'testnet'))).toMatch(/signature does not verify/);
    expect(refusal(() => verifyManifest({ ...signed, params: { ...signed.params, candidateDelivery: 'full' } }, root, 'testnet'))).toMatch(/signature does not verify/);
  });

  it('anything else is refused by name, in a manifest and in pinned params', () => {
    const signed = keys.manifest({ version: 2, params: { ...DEFAULT_PARAMS, candidateDelivery: 'header-first' }, primaries: [clerk], genesis });
    expect(refusal(() => verifyManifest({ ...signed, params: { ...signed.params, candidateDelivery: 'bodies-only' } }, root, 'testnet')))
      .toBe('ERR_PROTOCOL_MANIFEST manifest.params.candidateDelivery: expected one of full, header-first');
    expect(refusal(() => paramsMessage.read({ ...DEFAULT_PARAMS, candidateDelivery: 1 }))).toMatch(/params.candidateDelivery: expected one of full, header-first/);
    expect(paramsMessage.read({ ...DEFAULT_PARAMS, candidateDelivery: 'header-first' }).candidateDelivery).toBe('header-first');
  });
});
