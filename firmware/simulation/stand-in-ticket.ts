// The simulator's one substitution (docs/simulation.md): a node's TPM signature and its SHA-256
// are replaced by a keyed hash of the same lottery input, so that a million nodes fit in memory
// and minutes. What the lottery needs from a ticket is that it is fixed by (key, block hash,
// round), unpredictable without the key, and uniform, so that leading zero bits follow the same
// geometric law as SHA-256 of an RSA signature. A keyed 64-bit mix of two independent 32-bit lanes
// gives that for a simulation (it is not a cryptographic function: nobody attacks a simulation).
// Zero bits, the threshold and the priority order then come from the real lottery module.
/** Wellons' lowbias32: a 32-bit finalizer with a very low avalanche bias. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The first 8 bytes of a block hash as the two words the stand-in mixes in. */
export function hashWords(hash: Uint8Array): readonly [number, number] {
  const v = new DataView(hash.buffer, hash.byteOffset, hash.byteLength);
  return [v.getUint32(0, false), v.getUint32(4, false)];
}

/** The high and low word of the stand-in ticket of (key k0:k1, hash words h0:h1, round). */
export function standInTicket(k0: number, k1: number, h0: number, h1: number, round: number, out: Uint32Array): void {
  const r = mix32(round ^ 0x9e3779b9);
  out[0] = mix32(k0 ^ mix32(h0 ^ mix32(h1 ^ r)));
  out[1] = mix32(k1 ^ mix32(h1 ^ mix32(h0 ^ (r + 0x632be5ab))));
}

/** Leading zero bits of a stand-in ticket (0..64); the same count as the lottery's leadingZeroBits of standInBytes (tested). */
export function standInZeros(hi: number, lo: number): number {
  if (hi !== 0) return Math.clz32(hi);
  return 32 + Math.clz32(lo);
}

/** The ticket as bytes (big-endian), for the real priority order (comparePriority). */
export function standInBytes(hi: number, lo: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, hi, false);
  v.setUint32(4, lo, false);
  return b;
}
