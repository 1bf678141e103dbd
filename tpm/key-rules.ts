// Which TPM objects may be a node's sealing key or an endorsement key (docs/keys.md). One home
// for both users: the binding refuses to sign with an object at the sealing handle that breaks
// the rule (another object put there), and the registrar and the factory refuse to file or
// activate such a key. The binding's own templates pass these rules (test/tpm/key-rules.test.ts).
import { ObjectAttr, TPM_ALG } from './constants.ts';
import type { TpmPublic } from './public-area.ts';
import { SEALING_KEY_REQUIRED } from './templates.ts';

/** What an endorsement key must carry (TCG EK Credential Profile): a restricted decryption key born in the TPM. */
export const EK_REQUIRED =
  ObjectAttr.fixedTPM | ObjectAttr.fixedParent | ObjectAttr.sensitiveDataOrigin | ObjectAttr.restricted | ObjectAttr.decrypt;

/** The facts of a public area the rules read (a TpmPublic has them). */
export type KeyPublicFacts = Pick<TpmPublic, 'type' | 'objectAttributes'> & {
  readonly rsa?: { readonly keyBits: number; readonly scheme: { readonly scheme: number; readonly hashAlg?: number } };
  readonly ecc?: object;
};

const NAMED_BITS = ['fixedTPM', 'fixedParent', 'sensitiveDataOrigin', 'userWithAuth', 'restricted', 'decrypt', 'sign'] as const;

/** Why a public area cannot be a sealing key, or null. */
export function sealingKeyProblem(pub: KeyPublicFacts): string | null {
  if (pub.type !== TPM_ALG.RSA || !pub.rsa) return 'sealing key is not an RSA key';
  if (pub.rsa.keyBits !== 2048) return `sealing key is RSA-${pub.rsa.keyBits}, RSA-2048 required`;
  const missing = NAMED_BITS.filter((name) => (SEALING_KEY_REQUIRED & ObjectAttr[name]) !== 0 && (pub.objectAttributes & ObjectAttr[name]) === 0);
  if (missing.length > 0) return `sealing key lacks ${missing.join(', ')}`;
  if (pub.objectAttributes & ObjectAttr.restricted) return 'sealing key is restricted (it must sign arbitrary digests)';
  if (pub.objectAttributes & ObjectAttr.decrypt) return 'sealing key has decrypt set (a signing-only key is required)';
  // Lottery tickets must be unique per key and message: RSASSA-PKCS1-v1_5 only (docs/lottery.md).
  if (pub.rsa.scheme.scheme !== TPM_ALG.RSASSA || pub.rsa.scheme.hashAlg !== TPM_ALG.SHA256) return 'sealing key scheme is not RSASSA-SHA256';
  return null;
}

/** Why a public area cannot be an endorsement key (TCG EK Credential Profile), or null. */
export function ekProblem(pub: KeyPublicFacts): string | null {
  if (!pub.rsa && !pub.ecc) return 'EK is neither RSA nor ECC';
  if ((pub.objectAttributes & EK_REQUIRED) !== EK_REQUIRED || (pub.objectAttributes & ObjectAttr.sign) !== 0) {
    return 'EK must be a restricted decryption key with fixedTPM, fixedParent and sensitiveDataOrigin';
  }
  return null;
}
