// verifyRegistrationCertificate: the certificate is read once through its reader (exact keys,
// labelled fields, lowercase signature hex, size cap on text) before the root's signature is
// checked; every refusal is ERR_PROTOCOL_CERTIFICATE_INVALID naming what is wrong.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../firmware/protocol/errors.ts';
import { verifyRegistrationCertificate } from '../../../firmware/protocol/registration.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { issueRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';

const root = generateEd25519().key;
const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const cert = issueRegistrationCertificate(root, {
  nodeId: createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex'),
  sealingPublicKey: key.export({ type: 'spki', format: 'pem' }).toString(),
  ekName: 'e'.repeat(64), board: 'rpi4', serial: 'SN-1',
  issuedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2036-01-01T00:00:00.000Z',
});

function refusal(input: unknown): string {
  try {
    verifyRegistrationCertificate(input, root.publicKey);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('ERR_PROTOCOL_CERTIFICATE_INVALID');
    return (err as Error).message;
  }
  return 'accepted';
}

describe('verifyRegistrationCertificate', () => {
  it('takes the issued certificate as an object and as JSON text', () => {
    expect(verifyRegistrationCertificate(cert, root.publicKey, Date.parse('2027-01-01T00:00:00Z'))).toEqual(cert);
    expect(verifyRegistrationCertificate(JSON.stringify(cert), root.publicKey)).toEqual(cert);
  });

  it('refuses a wrong shape with the field it refuses', () => {
    expect(refusal(null)).toBe('registration certificate: expected object');
    expect(refusal([cert])).toBe('registration certificate: expected object');
    expect(refusal({ ...cert, format: 'btn-registration/v2' })).toBe('registration certificate.format: expected "btn-registration/v1"');
    const { board: _, ...noBoard } = cert;
    expect(refusal(noBoard)).toMatch(/^registration certificate\.board: expected string of 1\.\.4096 characters$/);
    expect(refusal({ ...cert, serial: 7 })).toMatch(/^registration certificate\.serial: expected string/);
    expect(refusal({ ...cert, extra: 1 })).toBe('registration certificate.extra: unknown key');
    expect(refusal({ ...cert, signature: cert.signature.toUpperCase() })).toMatch(/^registration certificate\.signature: expected lowercase hex of 64 bytes$/);
    expect(refusal({ ...cert, signature: cert.signature.slice(2) })).toMatch(/\.signature: expected lowercase hex/);
  });

  it('caps JSON text before parsing it and names bad JSON', () => {
    expect(refusal(JSON.stringify({ ...cert, board: 'x'.repeat(9000) }))).toMatch(/^registration certificate is \d+ bytes, at most 8192$/);
    expect(refusal('{')).toBe('registration certificate is not valid UTF-8 JSON');
  });

  it('refuses a changed field by its signature, and a node id that is not its key', () => {
    expect(refusal({ ...cert, board: 'evil' })).toBe('registration certificate signature does not verify with the root key');
    expect(() => verifyRegistrationCertificate(cert, generateEd25519().key.publicKey)).toThrow(/does not verify/);
    expect(() => verifyRegistrationCertificate(cert, root.publicKey, Date.parse('2037-01-01T00:00:00Z'))).toThrow(/is not valid now/);
  });
});
