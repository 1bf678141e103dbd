// MakeCredential in software, TPM2 Part 1 §24 (credential protection), with the seed protection
// of §22 / Part 1 Annex B.10.3 (RSA-OAEP) and KDFa of §11.4.10.2. The root node runs this for
// a filed EK and the name of the device's sealing key; only the TPM holding that EK and a
// loaded object of that name recovers the secret with TPM2_ActivateCredential.
import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import { ProvisioningError } from './errors.ts';
import { hashInfo, kdfa } from './credential-kdf.ts';
import { publicKeyObject, type TpmPublic } from '../tpm/public-area.ts';
import { WireWriter } from '../tpm/wire.ts';

export interface MakeCredentialInput {
  /** The EK's public area (parsePublic of its TPM2B_PUBLIC). */
  readonly ekPublic: TpmPublic;
  /** TPM name of the object the credential is bound to: nameAlg (u16) || digest. */
  readonly name: Uint8Array;
  /** The credential (the challenge secret), 1..digest size of the EK's nameAlg bytes. */
  readonly secret: Uint8Array;
}

export interface MadeCredential {
  /** TPM2B_ID_OBJECT wire bytes (u16 size included), the credentialBlob of ActivateCredential. */
  readonly credentialBlob: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET wire bytes (u16 size included), the secret of ActivateCredential. */
  readonly encryptedSecret: Uint8Array;
}

const ALG = { RSA: 0x0001, AES: 0x0006, SHA256: 0x000b, CFB: 0x0043 } as const;
const RESTRICTED = 1 << 16;
const DECRYPT = 1 << 17;
// TPM2 Part 1 Annex B.10.3: the OAEP label for credential seeds is "IDENTITY" with its NUL.
const IDENTITY_LABEL = Buffer.from('IDENTITY\0', 'latin1');

const refuse = (message: string, field: string): ProvisioningError => new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', message, field);

/**
 * Refuses EKs this implementation does not handle: only the TCG EK template L-1 shape
 * (RSA-2048, nameAlg SHA-256, restricted decryption key with AES-128-CFB) is supported.
 */
export function checkEkSupported(ek: TpmPublic): void {
  if (ek === null || typeof ek !== 'object' || !(ek.bytes instanceof Uint8Array)) throw refuse('ekPublic must be a parsed TPM public area', 'ekPublic');
  if (ek.type !== ALG.RSA || ek.rsa === undefined) {
    throw refuse(`EK type 0x${ek.type.toString(16).padStart(4, '0')} is not supported; only RSA-2048 EKs (template L-1) are`, 'ekPublic');
  }
  if (ek.nameAlg !== ALG.SHA256) throw refuse(`EK nameAlg 0x${ek.nameAlg.toString(16).padStart(4, '0')} is not supported; only SHA-256 (template L-1)`, 'ekPublic');
  if (ek.rsa.keyBits !== 2048 || ek.rsa.modulus.length !== 256) {
    throw refuse(`EK RSA key of ${ek.rsa.keyBits} bits (modulus ${ek.rsa.modulus.length} bytes) is not supported; only RSA-2048`, 'ekPublic');
  }
  if ((ek.objectAttributes & (RESTRICTED | DECRYPT)) !== (RESTRICTED | DECRYPT)) {
    throw refuse('EK is not a restricted decryption (storage) key, so it cannot activate credentials', 'ekPublic');
  }
  const sym = ek.rsa.symmetric;
  if (sym.algorithm !== ALG.AES || sym.keyBits !== 128 || sym.mode !== ALG.CFB) {
    throw refuse(`EK symmetric algorithm 0x${sym.algorithm.toString(16)}/${sym.keyBits ?? '-'} bits/mode 0x${(sym.mode ?? 0).toString(16)} is not supported; only AES-128-CFB`, 'ekPublic');
  }
}

function checkName(name: Uint8Array): void {
  if (!(name instanceof Uint8Array) || name.length < 2) throw refuse('name must be a TPM name (nameAlg u16 || digest)', 'name');
  const alg = (name[0]! << 8) | name[1]!;
  let size: number;
  try {
    size = hashInfo(alg).size;
  } catch {
    throw refuse(`name has unsupported hash algorithm 0x${alg.toString(16).padStart(4, '0')}`, 'name');
  }
  if (name.length !== 2 + size) throw refuse(`name is ${name.length} bytes; a name with hash 0x${alg.toString(16)} has ${2 + size}`, 'name');
}

/** TPM2_MakeCredential in software (TPM2 Part 3 §12.6, Part 1 §24). */
export function makeCredential(input: MakeCredentialInput): MadeCredential {
  if (input === null || typeof input !== 'object') throw refuse('makeCredential needs { ekPublic, name, secret }', 'input');
  const { ekPublic: ek, name, secret } = input;
  checkEkSupported(ek);
  checkName(name);
  const hash = hashInfo(ek.nameAlg);
  // Part 3 §12.6.1: the credential may not be larger than a digest of the EK's nameAlg.
  if (!(secret instanceof Uint8Array) || secret.length < 1 || secret.length > hash.size) {
    throw refuse(`secret must be 1..${hash.size} bytes`, 'secret');
  }

  // Part 1 §24.4 / Annex B.10.3: a fresh seed of the nameAlg's digest size, OAEP-encrypted to the EK.
  const seed = randomBytes(hash.size);
  try {
    const encrypted = publicEncrypt(
      { key: publicKeyObject(ek), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash.node, oaepLabel: IDENTITY_LABEL },
      seed,
    );
    // Part 1 §24.4: symKey = KDFa(nameAlg, seed, "STORAGE", name, NULL, symmetric key bits).
    const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', name, EMPTY, 128);
    const plain = new WireWriter().sized(secret).finish(); // TPM2B_DIGEST(credential)
    const cipher = createCipheriv('aes-128-cfb', symKey, new Uint8Array(16)); // §24.4: IV of zero
    const encIdentity = Buffer.concat([cipher.update(plain), cipher.final()]);
    symKey.fill(0);
    plain.fill(0);
    // Part 1 §24.5: HMACkey = KDFa(nameAlg, seed, "INTEGRITY", NULL, NULL, digest bits);
    // outerHMAC = HMAC(HMACkey, encIdentity || name).
    const hmacKey = kdfa(ek.nameAlg, seed, 'INTEGRITY', EMPTY, EMPTY, hash.size * 8);
    const outerHmac = createHmac(hash.node, hmacKey).update(encIdentity).update(name).digest();
    hmacKey.fill(0);
    const idObject = new WireWriter().sized(new Uint8Array(outerHmac)).bytes(new Uint8Array(encIdentity)).finish();
    return {
      credentialBlob: new WireWriter().sized(idObject).finish(),
      encryptedSecret: new WireWriter().sized(new Uint8Array(encrypted)).finish(),
    };
  } finally {
    seed.fill(0);
  }
}

const EMPTY = new Uint8Array(0);
