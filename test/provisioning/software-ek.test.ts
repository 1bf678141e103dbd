// The software EKs the ingest and activation benchmarks rely on: minted certificates are distinct,
// pass the registrar's full line check under the swtpm test CA, and are refused once tampered
// with; software ActivateCredential recovers what the registrar's MakeCredential wrapped.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../firmware/core/bytes.ts';
import { makeCredential } from '../../provisioning/credential.ts';
import { checkManifestLine, isRejection, parseManifestLine, TrustStore } from '../../provisioning/manifest/index.ts';
import { objectName, parsePublic } from '../../tpm/public-area.ts';
import { startDevices, type DeviceLab } from './devices.ts';
import { activateCredential, ekCertificateMinter, randomModulus, realEkKey, type SoftwareEk } from './software-ek.ts';
import { syntheticLines } from './synthetic.ts';

describe('software EKs under the test CA', () => {
  let lab: DeviceLab;
  let trust: TrustStore;
  let mint: (modulus: Uint8Array, privateKey?: import('node:crypto').KeyObject) => SoftwareEk;
  beforeAll(async () => {
    lab = await startDevices(1);
    trust = await TrustStore.fromDirectory(lab.caDir);
    const t = lab.devices[0]!.line;
    mint = await ekCertificateMinter(lab.caDir, t.ekCertificate, parsePublic(fromHex(t.ekPublic)).rsa!.modulus);
  }, 60_000);
  afterAll(async () => lab?.destroy());

  const check = (line: string): string => {
    const p = parseManifestLine(line);
    if (isRejection(p)) return p.code;
    const d = checkManifestLine(p, trust, Date.now());
    return isRejection(d) ? d.code : 'ok';
  };

  it('mints distinct certificates, each checked in full, one line per certificate', () => {
    const eks = Array.from({ length: 5 }, () => mint(randomModulus()));
    expect(new Set(eks.map((e) => e.certificate)).size).toBe(5);
    const lines = syntheticLines(lab.devices[0]!.line, 10, { eks });
    expect(new Set(lines.map((l) => (JSON.parse(l) as { ekCertificate: string }).ekCertificate)).size).toBe(5);
    expect(lines.map(check)).toEqual(Array(10).fill('ok'));
  });

  it('a minted certificate with a flipped signature bit, or for another key, is refused', () => {
    const ek = mint(randomModulus());
    const der = Buffer.from(ek.certificate, 'base64');
    der[der.length - 7]! ^= 1;
    const [line] = syntheticLines(lab.devices[0]!.line, 1, { eks: [{ ...ek, certificate: der.toString('base64') }] });
    expect(check(line!)).toBe('ERR_EK_CERT_UNTRUSTED');
    const [other] = syntheticLines(lab.devices[0]!.line, 1, { eks: [{ ...ek, modulus: randomModulus() }] });
    expect(check(other!)).toBe('ERR_EK_CERT_KEY_MISMATCH');
  });

  it('software ActivateCredential recovers the secret MakeCredential wrapped for the EK, and only for its name', () => {
    const k = realEkKey();
    const [line] = syntheticLines(lab.devices[0]!.line, 1, { eks: [mint(k.modulus, k.privateKey)] });
    const d = JSON.parse(line!) as { ekPublic: string; sealingPublic: string };
    const name = objectName(parsePublic(fromHex(d.sealingPublic)));
    const secret = new Uint8Array(randomBytes(32));
    const made = makeCredential({ ekPublic: parsePublic(fromHex(d.ekPublic)), name, secret });
    expect(activateCredential(k.privateKey, name, made.credentialBlob, made.encryptedSecret)).toEqual(secret);
    const wrongName = name.slice();
    wrongName[5]! ^= 1;
    expect(() => activateCredential(k.privateKey, wrongName, made.credentialBlob, made.encryptedSecret)).toThrow(/integrity/);
  });
});
