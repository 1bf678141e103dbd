// The one rule for which TPM objects may be a sealing key or an EK: the binding's templates pass
// it, and each way a key can break it is named.
import { describe, expect, it } from 'vitest';
import { ObjectAttr } from '../../tpm/constants.ts';
import { EK_REQUIRED, ekProblem, sealingKeyProblem } from '../../tpm/key-rules.ts';
import { parsePublicArea, type TpmPublic } from '../../tpm/public-area.ts';
import { EK_RSA_ATTRIBUTES, ekRsaTemplate, sealingKeyTemplate } from '../../tpm/templates.ts';

describe('key rules', () => {
  const sealing = (): TpmPublic => parsePublicArea(sealingKeyTemplate());
  const ek = (): TpmPublic => parsePublicArea(ekRsaTemplate());
  const withAttrs = (pub: TpmPublic, objectAttributes: number): TpmPublic => ({ ...pub, objectAttributes });

  it('the EK template carries what an EK must', () => {
    expect(EK_RSA_ATTRIBUTES & EK_REQUIRED).toBe(EK_REQUIRED);
  });

  it('the binding\'s sealing-key and EK templates pass the rules', () => {
    expect(sealingKeyProblem(sealing())).toBeNull();
    expect(ekProblem(ek())).toBeNull();
  });

  it('refuses sealing keys that lack an attribute, decrypt, are restricted, the wrong size or scheme', () => {
    const s = sealing();
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes & ~ObjectAttr.fixedTPM))).toBe('sealing key lacks fixedTPM');
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes & ~(ObjectAttr.userWithAuth | ObjectAttr.sign)))).toBe('sealing key lacks userWithAuth, sign');
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes | ObjectAttr.decrypt))).toMatch(/decrypt/);
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes | ObjectAttr.restricted))).toMatch(/restricted/);
    expect(sealingKeyProblem({ ...s, rsa: { ...s.rsa!, keyBits: 3072 } })).toBe('sealing key is RSA-3072, RSA-2048 required');
    expect(sealingKeyProblem({ ...s, rsa: { ...s.rsa!, scheme: { scheme: 0x0016, hashAlg: 0x000b } } })).toBe('sealing key scheme is not RSASSA-SHA256');
    expect(sealingKeyProblem(ek())).not.toBeNull();
  });

  it('refuses EKs that sign or are not restricted decryption keys', () => {
    const e = ek();
    expect(ekProblem(withAttrs(e, e.objectAttributes | ObjectAttr.sign))).toMatch(/restricted decryption key/);
    expect(ekProblem(withAttrs(e, e.objectAttributes & ~ObjectAttr.restricted))).toMatch(/restricted decryption key/);
    expect(ekProblem(sealing())).not.toBeNull();
  });
});
