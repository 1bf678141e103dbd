// Bytes: the one hex encoding, comparison, concatenation and bit count of the project. Public
// APIs take and give Uint8Array; Buffer stays an implementation detail of node:crypto and node:fs.

/** Lowercase hex, the form every message and file of the project writes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Parses hex of either case (what a person types or an older tool wrote); refuses odd lengths
 * and any other character with a labelled TypeError. Network messages add their own size and
 * case rules on top (firmware/protocol).
 */
export function fromHex(text: string, what = 'hex string'): Uint8Array {
  if (typeof text !== 'string' || !HEX.test(text)) throw new TypeError(`${what} must be an even-length hex string`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Byte equality; not constant-time (use node:crypto timingSafeEqual for secrets). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Number of leading zero bits of `bytes` (8 * length when all bits are zero): the lottery's count. */
export function leadingZeroBits(bytes: Uint8Array): number {
  let zeros = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    return zeros + Math.clz32(byte) - 24;
  }
  return zeros;
}
