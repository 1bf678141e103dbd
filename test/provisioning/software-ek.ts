// EKs in software for volume tests and benchmarks: distinct EK certificates minted under a test
// CA directory's own signing key (swtpm-localca's signkey.pem, the key that certified the real
// swtpm EKs), so each one is a certificate the registrar must verify by itself; and
// ActivateCredential for an EK whose private key the test holds, so a proof can be answered
// without a TPM. A minted certificate is a real swtpm EK certificate with its key and serial
// number replaced and the TBS signed again: same issuer, validity, extensions and sizes.
import { constants, createDecipheriv, createHmac, createPrivateKey, generateKeyPairSync, privateDecrypt, randomBytes, sign, timingSafeEqual, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kdfa } from '../../provisioning/credential-kdf.ts';
import { parseCertificate } from '../../provisioning/manifest/x509.ts';
import { WireReader } from '../../tpm/wire.ts';

export interface SoftwareEk {
  /** RSA-2048 modulus of the EK, 256 bytes big-endian. */
  readonly modulus: Uint8Array;
  /** The EK certificate, DER in base64 (a batch line's ekCertificate). */
  readonly certificate: string;
  /** Present when the test can answer this EK's credentials itself. */
  readonly privateKey?: KeyObject;
}

/** An RSA-2048 modulus nobody holds the key of (random, top bit set, odd): enough for a certificate check or MakeCredential. */
export function randomModulus(): Uint8Array {
  const n = new Uint8Array(randomBytes(256));
  n[0]! |= 0x80;
  n[255]! |= 1;
  return n;
}

/** A real RSA-2048 key pair (about 0.2 s each): for EKs whose credentials the test must answer. */
export function realEkKey(): { modulus: Uint8Array; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const n = (publicKey.export({ format: 'jwk' }) as { n: string }).n;
  return { modulus: new Uint8Array(Buffer.from(n, 'base64url')), privateKey };
}

/**
 * A minter of EK certificates under caDir's signing key, shaped like `templateCertificate`
 * (base64 DER of a real EK certificate that key issued, for the EK of `templateModulus`).
 */
export async function ekCertificateMinter(caDir: string, templateCertificate: string, templateModulus: Uint8Array):
Promise<(modulus: Uint8Array, privateKey?: KeyObject) => SoftwareEk> {
  const caKey = createPrivateKey(await readFile(join(caDir, 'signkey.pem')));
  const der = Buffer.from(templateCertificate, 'base64');
  const parsed = parseCertificate(new Uint8Array(der));
  if (parsed === null) throw new Error('the template EK certificate is not one the registrar parses fast');
  // TBSCertificate ::= SEQUENCE { [0] version, INTEGER serialNumber, rest... } (RFC 5280 §4.1)
  const tbs = Buffer.from(parsed.tbs);
  let p = contentStart(tbs, 0);
  const version = tbs[p] === 0xa0 ? tbs.subarray(p, (p = elementEnd(tbs, p))) : Buffer.alloc(0);
  if (tbs[p] !== 0x02) throw new Error('the template EK certificate has no serial number where RFC 5280 puts it');
  const rest = tbs.subarray(elementEnd(tbs, p));
  // The modulus sits once in the SPKI, after its INTEGER's leading zero (the top bit is set).
  const modulusAt = rest.indexOf(Buffer.from(templateModulus));
  if (templateModulus.length !== 256 || modulusAt < 0) throw new Error('the template EK certificate does not carry the template EK\'s RSA-2048 key');
  const algAt = parsed.tbs.byteOffset + parsed.tbs.length;
  const signatureAlgorithm = der.subarray(algAt, elementEnd(der, algAt));
  const run = randomBytes(4);
  let next = 0;
  return (modulus, privateKey) => {
    if (modulus.length !== 256 || (modulus[0]! & 0x80) === 0) throw new Error('an EK modulus here is 256 bytes with the top bit set');
    const body = Buffer.from(rest);
    body.set(modulus, modulusAt);
    // Distinct serial numbers from one issuer (RFC 5280 §4.1.2.2): 8 positive bytes, this run's and a counter.
    const serial = Buffer.alloc(8);
    run.copy(serial, 0);
    serial[0]! &= 0x7f;
    serial[0]! |= 0x40;
    serial.writeUInt32BE(++next, 4);
    const newTbs = tlv(0x30, Buffer.concat([version, tlv(0x02, serial), body]));
    const signature = sign(parsed.hash, newTbs, caKey);
    const cert = tlv(0x30, Buffer.concat([newTbs, signatureAlgorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
    return { modulus, certificate: cert.toString('base64'), ...(privateKey === undefined ? {} : { privateKey }) };
  };
}

/** Offset of a DER element's content (its tag at `at`). */
function contentStart(der: Buffer, at: number): number {
  const len = der[at + 1]!;
  return at + 2 + ((len & 0x80) === 0 ? 0 : len & 0x7f);
}

/** Offset just past a DER element (its tag at `at`). */
function elementEnd(der: Buffer, at: number): number {
  const first = der[at + 1]!;
  if ((first & 0x80) === 0) return at + 2 + first;
  let len = 0;
  for (let i = 0; i < (first & 0x7f); i++) len = len * 256 + der[at + 2 + i]!;
  return contentStart(der, at) + len;
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), content]);
}

const IDENTITY_LABEL = Buffer.from('IDENTITY\0', 'latin1');
const SHA256 = 0x000b;

/**
 * TPM2_ActivateCredential in software for an EK of template L-1 (RSA-2048, SHA-256, AES-128-CFB)
 * whose private key the test holds: the inverse of provisioning/credential.ts. `name` is the
 * TPM name of the object the credential is bound to; the integrity HMAC is checked.
 */
export function activateCredential(privateKey: KeyObject, name: Uint8Array, credentialBlob: Uint8Array, encryptedSecret: Uint8Array): Uint8Array {
  const encrypted = new WireReader(encryptedSecret, 'encryptedSecret').sized(512, 'secret');
  const seed = new Uint8Array(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: IDENTITY_LABEL }, encrypted));
  const idObject = new WireReader(new WireReader(credentialBlob, 'credentialBlob').sized(1024, 'credentialBlob'), 'idObject');
  const hmac = idObject.sized(64, 'integrityHMAC');
  const encIdentity = idObject.bytes(idObject.remaining);
  const hmacKey = kdfa(SHA256, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), 256);
  const expected = createHmac('sha256', hmacKey).update(encIdentity).update(name).digest();
  if (hmac.length !== expected.length || !timingSafeEqual(hmac, expected)) throw new Error('credential integrity check failed');
  const symKey = kdfa(SHA256, seed, 'STORAGE', name, new Uint8Array(0), 128);
  const decipher = createDecipheriv('aes-128-cfb', symKey, new Uint8Array(16));
  const plain = new Uint8Array(Buffer.concat([decipher.update(encIdentity), decipher.final()]));
  const r = new WireReader(plain, 'credential');
  const secret = r.sized(64, 'credential');
  r.end();
  return secret;
}
