// Shared generators for the BtnCmd codec property tests (fast and slow suites).
import fc from 'fast-check';
import { BtnCmdFlag, type BtnCmdFlagValue } from '../../../firmware/transport/btncmd-frame.ts';

export const nameArb = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,20}$/);
export const bodyArb: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.string({ maxLength: 12 }),
  fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 5 })),
  { maxKeys: 6 },
);
export const flagArb: fc.Arbitrary<BtnCmdFlagValue> = fc.constantFrom(BtnCmdFlag.command, BtnCmdFlag.reply);
export const frameArb = fc.record({ name: nameArb, body: bodyArb, flag: flagArb });

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Splits `bytes` at the given (sorted, deduplicated) cut points. */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of points) { out.push(bytes.subarray(prev, c)); prev = c; }
  out.push(bytes.subarray(prev));
  return out;
}
