// Object templates: the TCG EK (EK Credential Profile 2.x, template L-1), the TCG SRK
// (Provisioning Guidance §7.5) and the sealing key of docs/keys.md.
import { ObjectAttr, TPM_ALG } from './constants.ts';
import { rsaPublicArea } from './public-area.ts';
import { fromHex } from '../firmware/core/bytes.ts';

const AES128_CFB = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB } as const;

/** PolicySecret(TPM_RH_ENDORSEMENT), the EK's authPolicy (TCG EK Credential Profile, policy A). */
export const EK_POLICY_SHA256 = fromHex('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa');

export const EK_RSA_ATTRIBUTES =
  ObjectAttr.fixedTPM | ObjectAttr.fixedParent | ObjectAttr.sensitiveDataOrigin |
  ObjectAttr.adminWithPolicy | ObjectAttr.restricted | ObjectAttr.decrypt;

export const SRK_ATTRIBUTES =
  ObjectAttr.fixedTPM | ObjectAttr.fixedParent | ObjectAttr.sensitiveDataOrigin |
  ObjectAttr.userWithAuth | ObjectAttr.noDA | ObjectAttr.restricted | ObjectAttr.decrypt;

/** What docs/keys.md requires of a sealing key; the registrar checks exactly these. */
export const SEALING_KEY_REQUIRED =
  ObjectAttr.fixedTPM | ObjectAttr.fixedParent | ObjectAttr.sensitiveDataOrigin | ObjectAttr.userWithAuth | ObjectAttr.sign;

/**
 * The sealing key also carries noDA: its auth value is empty, so there is nothing to guess, and
 * a household's power cuts (no TPM2_Shutdown) raise the dictionary-attack counter; without noDA
 * a lockout would stop the node from sealing until the lockout recovery time passed.
 */
export const SEALING_KEY_ATTRIBUTES = SEALING_KEY_REQUIRED | ObjectAttr.noDA;

export function ekRsaTemplate(): Uint8Array {
  return rsaPublicArea({
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: EK_RSA_ATTRIBUTES,
    authPolicy: EK_POLICY_SHA256,
    symmetric: AES128_CFB,
    scheme: { scheme: TPM_ALG.NULL },
    keyBits: 2048,
    unique: new Uint8Array(256),
  });
}

export function srkRsaTemplate(): Uint8Array {
  return rsaPublicArea({
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: SRK_ATTRIBUTES,
    symmetric: AES128_CFB,
    scheme: { scheme: TPM_ALG.NULL },
    keyBits: 2048,
    unique: new Uint8Array(256),
  });
}

export function sealingKeyTemplate(): Uint8Array {
  return rsaPublicArea({
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: SEALING_KEY_ATTRIBUTES,
    symmetric: { algorithm: TPM_ALG.NULL },
    scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 },
    keyBits: 2048,
  });
}
