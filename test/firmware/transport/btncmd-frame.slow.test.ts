// Longer fuzz run of the BtnCmd decoder: mutated valid streams (bit flips, inserted and deleted
// bytes) split at random points. Only FrameError may escape; allocation stays under the cap.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder } from '../../../firmware/transport/btncmd-frame.ts';
import { FrameError } from '../../../firmware/transport/errors.ts';
import { frameArb, concat, splitAt } from './frame-helpers.ts';

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
);

type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'insert'; at: number; bytes: Uint8Array } | { kind: 'delete'; at: number; n: number };

function mutate(stream: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let s = stream;
  for (const m of muts) {
    const at = s.length === 0 ? 0 : m.at % s.length;
    if (m.kind === 'flip' && s.length > 0) { s = s.slice(); s[at]! ^= 1 << m.bit; }
    if (m.kind === 'insert') s = concat([s.subarray(0, at), m.bytes, s.subarray(at)]);
    if (m.kind === 'delete') s = concat([s.subarray(0, at), s.subarray(at + m.n)]);
  }
  return s;
}

describe('BtnCmd decoder fuzz (slow)', () => {
  it('mutated streams: only FrameError, bounded allocation, valid frames before the damage survive', () => {
    const cap = 2048;
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 12 }), fc.array(mutation, { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, muts, cuts) => {
      const encoded = frames.map((f) => encodeFrame(f.name, f.body, { flag: f.flag }));
      const stream = concat(encoded);
      const damaged = mutate(stream, muts);
      let biggest = 0;
      const d = new FrameDecoder({ maxFrameBytes: cap, allocate: (n) => { biggest = Math.max(biggest, n); return new Uint8Array(n); } });
      const names: string[] = [];
      try {
        for (const c of splitAt(damaged, cuts)) for (const item of d.push(c)) if (item.ok) names.push(item.frame.name);
        d.end();
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
      }
      expect(biggest).toBeLessThanOrEqual(cap);
      // frames wholly before the first damaged byte decode unchanged
      let firstDiff = 0;
      while (firstDiff < Math.min(stream.length, damaged.length) && stream[firstDiff] === damaged[firstDiff]) firstDiff++;
      let offset = 0;
      const intact: string[] = [];
      for (const [i, e] of encoded.entries()) { if (offset + e.length <= firstDiff) intact.push(frames[i]!.name); offset += e.length; }
      expect(names.slice(0, intact.length)).toEqual(intact);
    }), { numRuns: 20_000 });
  });

  it('pure random streams of up to 64 KiB', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 65_536 }), fc.array(fc.nat(), { maxLength: 30 }), (junk, cuts) => {
      const d = new FrameDecoder({ maxFrameBytes: 1 << 20 });
      try { for (const c of splitAt(junk, cuts)) d.push(c); d.end(); } catch (e) { expect(e).toBeInstanceOf(FrameError); }
    }), { numRuns: 2_000 });
  });
});
