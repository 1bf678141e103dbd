// MakeCredential in software, TPM2 Part 1 §24 (credential protection), with the seed protection
// of Part 1 Annex B.10.3 (RSA EKs: RSA-OAEP) or Annex C.6.1 (ECC EKs: one-pass ECDH with an
// ephemeral key, the seed from KDFe) and KDFa of §11.4.10.2. The root node runs this for a filed
// EK and the name of the device's sealing key; only the TPM holding that EK and a loaded object
// of that name recovers the secret with TPM2_ActivateCredential.
import { constants, createCipheriv, createECDH, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import { ProvisioningError } from './errors.ts';
import { hashInfo, kdfa, kdfe } from './credential-kdf.ts';
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

const ALG = { RSA: 0x0001, AES: 0x0006, SHA256: 0x000b, SHA384: 0x000c, ECC: 0x0023, CFB: 0x0043 } as const;
const RESTRICTED = 1 << 16;
const DECRYPT = 1 << 17;
// TPM2 Part 1 Annex B.10.3: the OAEP label for credential seeds is "IDENTITY" with its NUL.
const IDENTITY_LABEL = Buffer.from('IDENTITY\0', 'latin1');

/**
 * The ECC EK shapes handled, by TPM_ECC_CURVE: the TCG template L-2 (P-256, SHA-256,
 * AES-128-CFB: real TPMs' EK at 0x81010002, certificate at NV 0x01c0000a) and the high-range P-384
 * one (SHA-384, AES-256-CFB: swtpm's ECC EK at 0x81010016, certificate at 0x01c00016).
 */
const ECC_EKS: Readonly<Record<number, { readonly curve: string; readonly bytes: number; readonly nameAlg: number; readonly aesBits: number }>> = {
  0x0003: { curve: 'prime256v1', bytes: 32, nameAlg: ALG.SHA256, aesBits: 128 },
  0x0004: { curve: 'secp384r1', bytes: 48, nameAlg: ALG.SHA384, aesBits: 256 },
};

const refuse = (message: string, field: string): ProvisioningError => new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', message, field);
const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/**
 * Refuses EKs this implementation does not handle. RSA: the TCG EK template L-1 shape (RSA-2048,
 * nameAlg SHA-256, AES-128-CFB). ECC: NIST P-256 with SHA-256 and AES-128-CFB, or P-384 with
 * SHA-384 and AES-256-CFB. Either must be a restricted decryption key.
 */
export function checkEkSupported(ek: TpmPublic): void {
  if (ek === null || typeof ek !== 'object' || !(ek.bytes instanceof Uint8Array)) throw refuse('ekPublic must be a parsed TPM public area', 'ekPublic');
  if ((ek.objectAttributes & (RESTRICTED | DECRYPT)) !== (RESTRICTED | DECRYPT)) {
    throw refuse('EK is not a restricted decryption (storage) key, so it cannot activate credentials', 'ekPublic');
  }
  if (ek.type === ALG.ECC && ek.ecc !== undefined) {
    const shape = ECC_EKS[ek.ecc.curveId];
    if (shape === undefined) throw refuse(`ECC EK curve ${hex4(ek.ecc.curveId)} is not supported; only NIST P-256 and P-384`, 'ekPublic');
    const sym = ek.ecc.symmetric;
    if (ek.nameAlg !== shape.nameAlg || sym.algorithm !== ALG.AES || sym.keyBits !== shape.aesBits || sym.mode !== ALG.CFB) {
      throw refuse(`ECC EK on curve ${hex4(ek.ecc.curveId)} must use nameAlg ${hex4(shape.nameAlg)} and AES-${shape.aesBits}-CFB`, 'ekPublic');
    }
    if (ek.ecc.x.length !== shape.bytes || ek.ecc.y.length !== shape.bytes) throw refuse(`ECC EK point is not ${shape.bytes}+${shape.bytes} bytes`, 'ekPublic');
    return;
  }
  if (ek.type !== ALG.RSA || ek.rsa === undefined) {
    throw refuse(`EK type ${hex4(ek.type)} is not supported; only RSA-2048 (template L-1) and ECC P-256 / P-384 EKs are`, 'ekPublic');
  }
  if (ek.nameAlg !== ALG.SHA256) throw refuse(`EK nameAlg ${hex4(ek.nameAlg)} is not supported; only SHA-256 (template L-1)`, 'ekPublic');
  if (ek.rsa.keyBits !== 2048 || ek.rsa.modulus.length !== 256) {
    throw refuse(`EK RSA key of ${ek.rsa.keyBits} bits (modulus ${ek.rsa.modulus.length} bytes) is not supported; only RSA-2048`, 'ekPublic');
  }
  const sym = ek.rsa.symmetric;
  if (sym.algorithm !== ALG.AES || sym.keyBits !== 128 || sym.mode !== ALG.CFB) {
    throw refuse(`EK symmetric algorithm 0x${sym.algorithm.toString(16)}/${sym.keyBits ?? '-'} bits/mode 0x${(sym.mode ?? 0).toString(16)} is not supported; only AES-128-CFB`, 'ekPublic');
  }
}

/** A fresh seed and what carries it to the EK alone: RSA-OAEP of the seed, or an ephemeral ECDH point. */
function protectSeed(ek: TpmPublic, digestBytes: number): { seed: Uint8Array; encryptedSecret: Uint8Array } {
  if (ek.ecc !== undefined) {
    const shape = ECC_EKS[ek.ecc.curveId]!;
    const ecdh = createECDH(shape.curve);
    ecdh.generateKeys();
    // Z: the x coordinate of d_e * Q_EK, at the curve's size.
    const z = ecdh.computeSecret(Buffer.concat([Buffer.of(4), ek.ecc.x, ek.ecc.y]));
    const point = ecdh.getPublicKey(); // 0x04 || x || y
    const x = point.subarray(1, 1 + shape.bytes);
    const y = point.subarray(1 + shape.bytes);
    // Annex C.6.1: seed = KDFe(nameAlg, Z, "IDENTITY", Q_e.x, Q_EK.x, digest bits).
    const seed = kdfe(ek.nameAlg, z, 'IDENTITY', x, ek.ecc.x, digestBytes * 8);
    z.fill(0);
    return { seed, encryptedSecret: new WireWriter().sized(x).sized(y).finish() }; // TPMS_ECC_POINT
  }
  const seed = new Uint8Array(randomBytes(digestBytes));
  const encrypted = publicEncrypt({ key: publicKeyObject(ek), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashInfo(ek.nameAlg).node, oaepLabel: IDENTITY_LABEL }, seed);
  return { seed, encryptedSecret: new Uint8Array(encrypted) };
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

  // Part 1 §24.4: a fresh seed of the nameAlg's digest size, that only the EK can recover.
  const { seed, encryptedSecret } = protectSeed(ek, hash.size);
  try {
    // Part 1 §24.4: symKey = KDFa(nameAlg, seed, "STORAGE", name, NULL, symmetric key bits).
    const aesBits = (ek.ecc ?? ek.rsa)!.symmetric.keyBits ?? 128;
    const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', name, EMPTY, aesBits);
    const plain = new WireWriter().sized(secret).finish(); // TPM2B_DIGEST(credential)
    const cipher = createCipheriv(`aes-${aesBits}-cfb`, symKey, new Uint8Array(16)); // §24.4: IV of zero
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
      encryptedSecret: new WireWriter().sized(encryptedSecret).finish(),
    };
  } finally {
    seed.fill(0);
  }
}

const EMPTY = new Uint8Array(0);
