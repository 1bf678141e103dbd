// The one JSON reader: every kind of field, exact objects, and errors that name the field path.
import { describe, expect, it } from 'vitest';
import {
  anyObject, array, boolean, byType, hex, hexText, integer, invalid, JsonError, literal, map, nullable, object, oneOf, optional, optionalFields, parseJson, problemsOf, readWith, refine, string,
} from '../../../firmware/core/json.ts';

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof JsonError) return `${err.code} ${err.message}`;
    throw err;
  }
  return 'ok';
}

const seal = object({
  nodeId: string({ min: 1, max: 8, pattern: /^[a-z0-9-]+$/ }),
  round: integer({ min: 0, max: 10 }),
  signature: hex({ bytes: 4 }),
  name: hexText({ min: 1, max: 2, lowercase: true }),
  ok: boolean(),
  kind: oneOf(['a', 'b']),
  tags: array(string({ max: 3 }), { max: 2 }),
  inner: object({ v: literal(1) }),
  note: optional(string({ max: 5 })),
  registration: nullable(anyObject({ maxKeys: 2 })),
});
const good = { nodeId: 'n-1', round: 3, signature: 'DEADbeef', name: 'ab', ok: true, kind: 'a', tags: ['x'], inner: { v: 1 }, registration: null };

describe('core JSON reader', () => {
  it('reads every kind of field and returns typed values (hex as bytes or lowercase text)', () => {
    const v = seal.read(good, 'seal');
    expect(v).toEqual({ ...good, signature: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) });
    expect('note' in v).toBe(false);
    expect(seal.read({ ...good, note: 'hi' }, 'seal').note).toBe('hi');
    expect(hexText({ bytes: 2 }).read('ABcd', 'x')).toBe('abcd');
    expect(seal.required).toEqual(['nodeId', 'round', 'signature', 'name', 'ok', 'kind', 'tags', 'inner', 'registration']);
  });

  it('hex readers take exactly the ASCII hex digits, in any position (no code unit outside them passes)', () => {
    const any = hex({ bytes: 2 }), lower = hexText({ bytes: 2, lowercase: true });
    const takes = (r: { read: (v: unknown, p: string) => unknown }, v: string): boolean => {
      try {
        r.read(v, 'x');
        return true;
      } catch {
        return false;
      }
    };
    // every code unit below U+0400, and every one whose low byte is a hex digit (U+FF41 is not 'A')
    const units = Array.from({ length: 0x10000 }, (_, c) => c).filter((c) => c < 0x400 || /^[0-9a-fA-F]$/.test(String.fromCharCode(c & 0xff)));
    const wrong: string[] = [];
    for (const c of units) {
      const ch = String.fromCharCode(c);
      for (const v of [`${ch}abc`, `ab${ch}c`, `abc${ch}`]) {
        if (takes(any, v) !== /^[0-9a-fA-F]$/.test(ch)) wrong.push(`U+${c.toString(16)} in ${JSON.stringify(v)}`);
        if (takes(lower, v) !== /^[0-9a-f]$/.test(ch)) wrong.push(`U+${c.toString(16)} in ${JSON.stringify(v)}, lowercase`);
      }
    }
    expect(wrong).toEqual([]);
    expect(units.length).toBeGreaterThan(6000);
  });

  it('names the field path in every refusal', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ nodeId: 'N1' }, 'seal.nodeId: expected string of 1..8 characters matching ^[a-z0-9-]+$'],
      [{ nodeId: '' }, 'seal.nodeId: expected string of 1..8 characters matching ^[a-z0-9-]+$'],
      [{ round: 11 }, 'seal.round: expected integer in 0..10'],
      [{ round: 2.5 }, 'seal.round: expected integer in 0..10'],
      [{ round: '3' }, 'seal.round: expected integer in 0..10'],
      [{ signature: 'deadbe' }, 'seal.signature: expected hex of 4 bytes'],
      [{ signature: 'deadbeeg' }, 'seal.signature: expected hex of 4 bytes'],
      [{ name: 'AB' }, 'seal.name: expected lowercase hex of 1..2 bytes'],
      [{ ok: 'true' }, 'seal.ok: expected boolean'],
      [{ kind: 'c' }, 'seal.kind: expected one of a, b'],
      [{ tags: ['x', 'y', 'z'] }, 'seal.tags: expected array of 0..2 items'],
      [{ tags: ['x', 'long'] }, 'seal.tags[1]: expected string of 0..3 characters'],
      [{ inner: { v: 2 } }, 'seal.inner.v: expected 1'],
      [{ inner: { v: 1, w: 1 } }, 'seal.inner.w: unknown key'],
      [{ note: 7 }, 'seal.note: expected string of 0..5 characters'],
      [{ registration: { a: 1, b: 2, c: 3 } }, 'seal.registration: expected object of at most 2 keys'],
      [{ extra: 1 }, 'seal.extra: unknown key'],
    ];
    for (const [patch, message] of cases) expect(error(() => seal.read({ ...good, ...patch }, 'seal'))).toBe(`ERR_JSON_INVALID ${message}`);
    const { round: _round, ...missing } = good;
    expect(error(() => seal.read(missing, 'seal'))).toBe('ERR_JSON_INVALID seal.round: expected integer in 0..10');
    expect(error(() => seal.read([], 'seal'))).toBe('ERR_JSON_INVALID seal: expected object');
    expect(error(() => seal.read(null, ''))).toBe('ERR_JSON_INVALID expected object');
    expect(error(() => object({ a: integer({ min: 0, max: 1 }) }).read({ b: 1 }, ''))).toBe('ERR_JSON_INVALID b: unknown key');
  });

  it('ignores (and leaves out) unknown keys only when asked', () => {
    const loose = object({ a: integer({ min: 0, max: 9 }) }, { exact: false });
    expect(loose.read({ a: 1, b: 2 }, 'x')).toEqual({ a: 1 });
    expect(loose.exact).toBe(false);
  });

  it('does not let __proto__ or inherited keys through', () => {
    const o = object({ a: optional(integer({ min: 0, max: 9 })) });
    expect(error(() => o.read(JSON.parse('{"__proto__":{"a":1}}'), 'x'))).toBe('ERR_JSON_INVALID x.__proto__: unknown key');
    expect(o.read(Object.create({ a: 1 }), 'x')).toEqual({});
  });

  it('refines and maps read values, refusing at the same path', () => {
    const even = refine(integer({ min: 0, max: 100 }), (n) => (n % 2 === 0 ? undefined : 'expected an even number'));
    expect(even.read(4, 'n')).toBe(4);
    expect(error(() => even.read(3, 'n'))).toBe('ERR_JSON_INVALID n: expected an even number');
    const date = map(string({ max: 40 }), (s, path) => {
      const t = Date.parse(s);
      return Number.isFinite(t) ? t : invalid(path, 'expected an ISO-8601 date');
    });
    expect(date.read('2026-01-01T00:00:00Z', 'at')).toBe(Date.UTC(2026, 0, 1));
    expect(error(() => date.read('soon', 'at'))).toBe('ERR_JSON_INVALID at: expected an ISO-8601 date');
  });

  it('a string can say in words what it must be', () => {
    const serial = string({ min: 1, max: 4, pattern: /^[A-Z]+$/, what: '1-4 capital letters' });
    expect(serial.read('AB', 's')).toBe('AB');
    expect(serial.expects).toBe('1-4 capital letters');
    for (const bad of ['ab', '', 'ABCDE', 3]) expect(error(() => serial.read(bad, 's'))).toBe('ERR_JSON_INVALID s: expected 1-4 capital letters');
  });

  it('wrapping readers keep what they wrap, so a document can be compared with the shape inside', () => {
    const line = object({ n: integer({ min: 0, max: 9 }) });
    const list = array(line, { max: 3 });
    expect(list.item).toBe(line);
    const maybe = nullable(line);
    expect([maybe.inner, maybe.read(null, 'x')]).toEqual([line, null]);
    const counted = map(list, (l) => l.length);
    expect([counted.inner, counted.read([{ n: 1 }], 'x')]).toEqual([list, 1]);
  });

  it('problemsOf names every refused field, through nested objects and wrappers, and nothing for a good value', () => {
    expect(problemsOf(seal, good, 'seal')).toEqual([]);
    const bad = { ...good, round: 11, extra: 1, inner: { v: 2, w: 0 }, note: 7, registration: { a: 1, b: 2, c: 3 } };
    expect(problemsOf(seal, bad, 'seal')).toEqual([
      { path: 'seal.extra', expected: 'unknown key' },
      { path: 'seal.round', expected: 'expected integer in 0..10' },
      { path: 'seal.inner.w', expected: 'unknown key' },
      { path: 'seal.inner.v', expected: 'expected 1' },
      { path: 'seal.note', expected: 'expected string of 0..5 characters' },
      { path: 'seal.registration', expected: 'expected object of at most 2 keys' },
    ]);
    const led = object({ led: nullable(object({ path: string({ max: 3 }), on: boolean() })) });
    expect(problemsOf(led, { led: { path: 'long', on: 'yes' } }, '')).toEqual([{ path: 'led.path', expected: 'expected string of 0..3 characters' }, { path: 'led.on', expected: 'expected boolean' }]);
    expect(problemsOf(led, { led: null }, '')).toEqual([]);
    expect(problemsOf(led, 5, '')).toEqual([{ path: '', expected: 'expected object' }]);
    // A rule on a whole object is named where it is, once its fields are right.
    const pair = refine(object({ a: integer({ min: 0, max: 9 }), b: integer({ min: 0, max: 9 }) }), (p) => (p.a < p.b ? undefined : 'expected a below b'));
    expect(problemsOf(pair, { a: 5, b: 1 }, 'p')).toEqual([{ path: 'p', expected: 'expected a below b' }]);
    expect(problemsOf(pair, { a: 'x', b: 1 }, 'p')).toEqual([{ path: 'p.a', expected: 'expected integer in 0..9' }]);
  });

  it('readWith turns a refusal into the caller\'s own error and passes other errors on', () => {
    class Mine extends Error {}
    const n = integer({ min: 0, max: 9 });
    expect(readWith(n, 3, 'n', (e) => new Mine(e.message))).toBe(3);
    expect(() => readWith(n, 10, 'cfg.n', (e) => new Mine(`bad: ${e.message} (${e.path})`))).toThrow(new Mine('bad: cfg.n: expected integer in 0..9 (cfg.n)'));
    const boom = map(n, () => { throw new RangeError('not a JsonError'); });
    expect(() => readWith(boom, 1, 'n', (e) => new Mine(e.message))).toThrow(RangeError);
  });

  it('caps the size before parsing, counting UTF-8 bytes, and refuses invalid UTF-8', () => {
    expect(parseJson('{"a":1}', 7, 'm')).toEqual({ a: 1 });
    expect(error(() => parseJson('"é"', 3, 'm'))).toBe('ERR_JSON_OVERSIZE m is 4 bytes, at most 3');
    expect(error(() => parseJson(Uint8Array.of(0x22, 0xff, 0x22), 100, 'm'))).toBe('ERR_JSON_SYNTAX m is not valid UTF-8 JSON');
    expect(error(() => parseJson('{', 100, 'm'))).toBe('ERR_JSON_SYNTAX m is not valid UTF-8 JSON');
  });

  it('byType reads a field written in several JSON types with the reader for its type, and names both when neither fits', () => {
    const handle = byType<number>({ number: integer({ min: 1, max: 9 }), string: map(string({ min: 1, max: 4, pattern: /^0x[0-9]+$/, what: 'hex text' }), (t) => Number(t)) });
    expect(handle.read(3, 'h')).toBe(3);
    expect(handle.read('0x7', 'h')).toBe(7);
    expect(error(() => handle.read(10, 'h'))).toBe('ERR_JSON_INVALID h: expected integer in 1..9');
    expect(error(() => handle.read('7', 'h'))).toBe('ERR_JSON_INVALID h: expected hex text');
    expect(error(() => handle.read(null, 'h'))).toBe('ERR_JSON_INVALID h: expected integer in 1..9 or hex text');
    expect(error(() => handle.read([1], 'h'))).toBe('ERR_JSON_INVALID h: expected integer in 1..9 or hex text');
    // An array branch reports the item it refuses, not the field.
    const paths = byType<string[]>({ string: map(string({ max: 3 }), (p) => [p]), array: array(string({ max: 3 }), { max: 2 }) });
    expect(error(() => paths.read(['ok', 'long'], 'p'))).toBe('ERR_JSON_INVALID p[1]: expected string of 0..3 characters');
  });

  it('optionalFields makes every field optional, each still checked when given', () => {
    const overrides = object(optionalFields({ a: integer({ min: 0, max: 1 }), b: string({ max: 1 }) }));
    expect(overrides.read({}, '')).toEqual({});
    expect(overrides.read({ b: 'x' }, '')).toEqual({ b: 'x' });
    expect(problemsOf(overrides, { a: 2, b: 'xy', c: 1 }, 'o').map((p) => p.path)).toEqual(['o.c', 'o.a', 'o.b']);
  });
});
