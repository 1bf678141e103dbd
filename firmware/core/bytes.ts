// Small pure helpers of the binding (shared with firmware's lottery, which imports from here so
// that the count of leading zero bits has exactly one implementation).

/** Number of leading zero bits of `bytes` (8 * length when all bits are zero). */
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

export function toHexString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
