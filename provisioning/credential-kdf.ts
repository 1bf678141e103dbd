// KDFa, TPM2 Part 1 §11.4.10.2: SP800-108 counter-mode KDF with HMAC as the PRF.
//   K(i) = HMAC_hashAlg(key, [i]32 || Label || 0x00 || ContextU || ContextV || [bits]32)
// KDFe, §11.4.10.3 (the seed of an ECC key's secret sharing, Annex C.6.1): SP800-56A's
// concatenation KDF.
//   K(i) = H_hashAlg([i]32 || Z || Label || 0x00 || PartyUInfo || PartyVInfo)
// The 0x00 after the label is omitted when the label already ends in 0x00 (so "STORAGE" and
// "STORAGE\0" derive the same key), as the TCG reference implementation does.
import { createHash, createHmac } from 'node:crypto';
import { ProvisioningError } from './errors.ts';

const HASHES: Readonly<Record<number, { node: string; size: number }>> = {
  0x0004: { node: 'sha1', size: 20 },
  0x000b: { node: 'sha256', size: 32 },
  0x000c: { node: 'sha384', size: 48 },
  0x000d: { node: 'sha512', size: 64 },
};

/** Largest output we derive; the TPM itself caps KDFa at TPM2B_MAX_BUFFER sizes. */
const MAX_BITS = 8 * 1024 * 8;

export function hashInfo(hashAlg: number): { node: string; size: number } {
  const h = HASHES[hashAlg];
  if (h === undefined) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `KDFa: unsupported hash algorithm 0x${hashAlg.toString(16).padStart(4, '0')}`);
  }
  return h;
}

/**
 * KDFa(hashAlg, key, label, contextU, contextV, bits). `label` is ASCII text or bytes; the
 * result has ceil(bits/8) bytes, with the excess high bits of the first byte cleared.
 */
export function kdfa(
  hashAlg: number,
  key: Uint8Array,
  label: string | Uint8Array,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Uint8Array {
  const hash = hashInfo(hashAlg);
  if (!Number.isInteger(bits) || bits <= 0 || bits > MAX_BITS) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `KDFa: bits must be an integer in 1..${MAX_BITS}, got ${bits}`);
  }
  const labelBytes = typeof label === 'string' ? Buffer.from(label, 'latin1') : label;
  const needsNul = labelBytes.length === 0 || labelBytes[labelBytes.length - 1] !== 0;
  const bitsField = Buffer.alloc(4);
  bitsField.writeUInt32BE(bits >>> 0);
  const bytes = Math.ceil(bits / 8);
  const out = new Uint8Array(bytes);
  const counter = Buffer.alloc(4);
  for (let i = 1, filled = 0; filled < bytes; i++) {
    counter.writeUInt32BE(i);
    const mac = createHmac(hash.node, key).update(counter).update(labelBytes);
    if (needsNul) mac.update(ZERO);
    const block = mac.update(contextU).update(contextV).update(bitsField).digest();
    const take = Math.min(block.length, bytes - filled);
    out.set(block.subarray(0, take), filled);
    filled += take;
  }
  // TPM2 Part 1 §11.4.10.2: when bits is not a multiple of 8, the leftmost excess bits are zero.
  if (bits % 8 !== 0) out[0] = out[0]! & ((1 << (bits % 8)) - 1);
  return out;
}

const ZERO = Uint8Array.of(0);

/** KDFe(hashAlg, Z, label, partyUInfo, partyVInfo, bits): ceil(bits/8) bytes, excess high bits cleared. */
export function kdfe(hashAlg: number, z: Uint8Array, label: string, partyUInfo: Uint8Array, partyVInfo: Uint8Array, bits: number): Uint8Array {
  const hash = hashInfo(hashAlg);
  if (!Number.isInteger(bits) || bits <= 0 || bits > MAX_BITS) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `KDFe: bits must be an integer in 1..${MAX_BITS}, got ${bits}`);
  }
  const labelBytes = Buffer.from(label.endsWith('\0') ? label : `${label}\0`, 'latin1');
  const bytes = Math.ceil(bits / 8);
  const out = new Uint8Array(bytes);
  const counter = Buffer.alloc(4);
  for (let i = 1, filled = 0; filled < bytes; i++) {
    counter.writeUInt32BE(i);
    const block = createHash(hash.node).update(counter).update(z).update(labelBytes).update(partyUInfo).update(partyVInfo).digest();
    const take = Math.min(block.length, bytes - filled);
    out.set(block.subarray(0, take), filled);
    filled += take;
  }
  if (bits % 8 !== 0) out[0] = out[0]! & ((1 << (bits % 8)) - 1);
  return out;
}
