import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, BtnCmdFlag, type DecodedItem } from '../../../firmware/transport/btncmd-frame.ts';
import { FrameError, TransportError } from '../../../firmware/transport/errors.ts';
import { frameArb, concat, splitAt } from './frame-helpers.ts';

function header(flag: number, length: number): Uint8Array {
  const h = new Uint8Array(8);
  const v = new DataView(h.buffer);
  v.setInt32(0, flag, false);
  v.setInt32(4, length, false);
  return h;
}
const te = new TextEncoder();
function raw(flag: number, body: string | Uint8Array): Uint8Array {
  const b = typeof body === 'string' ? te.encode(body) : body;
  return concat([header(flag, b.length), b]);
}
function decodeAll(chunks: readonly Uint8Array[], max?: number): DecodedItem[] {
  const d = new FrameDecoder(max === undefined ? {} : { maxFrameBytes: max });
  const out = chunks.flatMap((c) => d.push(c));
  d.end();
  return out;
}

describe('BtnCmd frame codec', () => {
  it('encodes seal{json} big-endian: flag BTNC, int32 length, UTF-8 body', () => {
    const bytes = encodeFrame('seal', { height: 1, round: 7 });
    const body = 'seal{"height":1,"round":7}';
    expect(Buffer.from(bytes.subarray(0, 8)).toString('hex')).toBe('42544e43' + body.length.toString(16).padStart(8, '0'));
    expect(new TextDecoder().decode(bytes.subarray(8))).toBe(body);
  });

  it('decodes a frame, several frames in one read, and one frame split byte by byte', () => {
    const a = encodeFrame('seal', { height: 1 });
    const b = encodeFrame('ack', { ok: true, s: 'é€😀' }, { flag: BtnCmdFlag.reply });
    const both = concat([a, b]);
    const frames = decodeAll([both]);
    expect(frames).toEqual([
      { ok: true, frame: { flag: BtnCmdFlag.command, name: 'seal', body: { height: 1 }, length: a.length - 8 } },
      { ok: true, frame: { flag: BtnCmdFlag.reply, name: 'ack', body: { ok: true, s: 'é€😀' }, length: b.length - 8 } },
    ]);
    const bytewise = decodeAll(Array.from(both, (x) => Uint8Array.of(x)));
    expect(bytewise).toEqual(frames);
  });

  it('drops the link on an unknown flag, a negative length or a length above the cap', () => {
    const cases: [Uint8Array, string][] = [
      [raw(0x12345678, 'seal{}'), 'bad-flag'],
      [header(BtnCmdFlag.command, -1), 'negative-length'],
      [header(BtnCmdFlag.command, 1025), 'oversize'],
    ];
    for (const [bytes, reason] of cases) {
      const d = new FrameDecoder({ maxFrameBytes: 1024 });
      let err: unknown;
      try { d.push(bytes); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(FrameError);
      expect((err as FrameError).reason).toBe(reason);
      expect((err as FrameError).code).toBe('ERR_BTNCMD_FRAME');
      // dead afterwards, even for valid input
      expect(() => d.push(encodeFrame('x', {}))).toThrow(FrameError);
    }
  });

  it('skips a frame with a known flag but a bad body and resynchronizes on the next one', () => {
    const bad = [
      [raw(BtnCmdFlag.command, Uint8Array.of(0x73, 0xff, 0x7b, 0x7d)), 'invalid-utf8'],
      [raw(BtnCmdFlag.command, 'seal'), 'bad-body'],
      [raw(BtnCmdFlag.command, '{"a":1}'), 'bad-body'],
      [raw(BtnCmdFlag.command, 'seal[1,2]'), 'bad-body'],
      [raw(BtnCmdFlag.command, 'seal{"a":'), 'bad-body'],
      [raw(BtnCmdFlag.command, 'seal{} trailing'), 'bad-body'],
      [raw(BtnCmdFlag.command, '9seal{}'), 'bad-body'],
      [raw(BtnCmdFlag.command, ''), 'bad-body'],
    ] as const;
    for (const [bytes, reason] of bad) {
      const items = decodeAll([concat([bytes, encodeFrame('ping', { n: 1 })])]);
      expect(items).toHaveLength(2);
      expect(items[0]!.ok).toBe(false);
      if (!items[0]!.ok) expect(items[0]!.error.reason).toBe(reason);
      expect(items[1]).toMatchObject({ ok: true, frame: { name: 'ping', body: { n: 1 } } });
    }
  });

  it('reports a stream cut inside a frame as truncated', () => {
    const d = new FrameDecoder();
    d.push(encodeFrame('seal', { a: 1 }).subarray(0, 11));
    expect(() => d.end()).toThrow(/ended inside a frame/);
  });

  it('encoder refuses bad names, non-objects and bodies over the cap', () => {
    expect(() => encodeFrame('se al', {})).toThrow(TransportError);
    expect(() => encodeFrame('', {})).toThrow(TransportError);
    expect(() => encodeFrame('seal', [] as unknown as Record<string, unknown>)).toThrow(TransportError);
    expect(() => encodeFrame('seal', { x: 'y'.repeat(100) }, { maxFrameBytes: 64 })).toThrow(/max 64/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => encodeFrame('seal', cyclic)).toThrow(TransportError);
  });

  it('property: any split of a valid stream decodes identically to the whole stream', () => {
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
      const stream = concat(frames.map((f) => encodeFrame(f.name, f.body, { flag: f.flag })));
      const whole = decodeAll([stream]);
      expect(whole.map((i) => i.ok && i.frame.name)).toEqual(frames.map((f) => f.name));
      expect(whole.map((i) => i.ok && i.frame.body)).toEqual(frames.map((f) => JSON.parse(JSON.stringify(f.body))));
      expect(decodeAll(splitAt(stream, cuts))).toEqual(whole);
    }), { numRuns: 300 });
  });

  it('property: random bytes (alone or after a valid prefix) never throw anything but FrameError, and never allocate above the cap', () => {
    const cap = 4096;
    fc.assert(fc.property(fc.option(frameArb), fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 6 }), (prefix, junk, cuts) => {
      let biggest = 0;
      const d = new FrameDecoder({ maxFrameBytes: cap, allocate: (n) => { biggest = Math.max(biggest, n); return new Uint8Array(n); } });
      const stream = prefix ? concat([encodeFrame(prefix.name, prefix.body, { flag: prefix.flag }), junk]) : junk;
      try {
        for (const c of splitAt(stream, cuts)) d.push(c);
        d.end();
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
      }
      expect(biggest).toBeLessThanOrEqual(cap);
      expect(d.bufferedBytes).toBeLessThanOrEqual(8 + cap);
    }), { numRuns: 500 });
  });

  it('property: headers with a known flag and any int32 length are accepted only within [0, cap]', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (length) => {
      const d = new FrameDecoder({ maxFrameBytes: 1 << 20 });
      let err: FrameError | null = null;
      try { d.push(header(BtnCmdFlag.reply, length)); } catch (e) { err = e as FrameError; }
      if (length < 0) expect(err?.reason).toBe('negative-length');
      else if (length > 1 << 20) expect(err?.reason).toBe('oversize');
      else expect(err).toBeNull();
    }), { numRuns: 300 });
  });
});

describe('BtnCmd decoder: fatal error after valid frames in the same read', () => {
  it('returns the frames first, exposes the error at once and throws it on the next call', () => {
    const d = new FrameDecoder();
    const items = d.push(concat([encodeFrame('a', {}), header(0x01020304, 2), Uint8Array.of(1, 2)]));
    expect(items.map((i) => i.ok && i.frame.name)).toEqual(['a']);
    expect(d.error?.reason).toBe('bad-flag');
    expect(() => d.push(new Uint8Array(0))).toThrow(FrameError);
    expect(() => d.end()).toThrow(FrameError);
  });
});
