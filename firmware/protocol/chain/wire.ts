// The chain's JSON wire form, read through firmware/core/json.ts. A refusal is a ChainError
// naming the field: ERR_CHAIN_OVERSIZE for a value longer than its cap (a hex field, the
// transaction list, the text itself), ERR_CHAIN_MALFORMED for anything else.
// JSON is for transport only: nothing is ever hashed or signed over JSON text.
import { hex, invalid, JsonError, map, parseJson, readWith, string, type Reader } from '../../core/json.ts';
import { U64_MAX } from './encoding.ts';
import { malformed, oversize } from './errors.ts';

/** Hex bytes in min..max; text longer than max bytes is oversize. */
export function hexBytes(min: number, max: number): Reader<Uint8Array> {
  const inner = hex({ min, max });
  return {
    expects: inner.expects,
    read(v, path) {
      if (typeof v === 'string' && v.length > 2 * max) throw oversize(`${path} is longer than ${max} bytes`, path);
      return inner.read(v, path);
    },
  };
}

/** A JSON array of at most `max` items, its items still unread (read them once the cheap checks passed); longer is oversize. */
export function list(max: number, what: string): Reader<readonly unknown[]> {
  return {
    expects: `array of at most ${max} items`,
    read(v, path) {
      if (!Array.isArray(v)) invalid(path, 'expected array');
      if (v.length > max) throw oversize(`${what} has ${v.length} items, at most ${max}`, path);
      return v;
    },
  };
}

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/** A u64 as a decimal string (never a JSON number: it would lose precision above 2^53). */
export const u64Decimal: Reader<bigint> = map(string({ max: 20, pattern: DECIMAL, what: 'a decimal string without leading zeros' }), (s, path) => {
  const n = BigInt(s);
  return n > U64_MAX ? invalid(path, 'expected at most 2^64-1') : n;
});

/** `value` read at `root`; a reader's refusal becomes ERR_CHAIN_MALFORMED naming the field. */
export function readChain<T>(reader: Reader<T>, value: unknown, root: string): T {
  return readWith(reader, value, root, (err) => malformed(err.message, err.path));
}

/** JSON text or bytes, capped before parsing: over the cap is oversize, anything not JSON malformed. */
export function parseJsonText(payload: Uint8Array | string, maxBytes: number, what: string): unknown {
  try {
    return parseJson(payload, maxBytes, what);
  } catch (err) {
    if (err instanceof JsonError && err.code === 'ERR_JSON_OVERSIZE') throw oversize(err.message);
    throw malformed(`${what} is not valid JSON`);
  }
}
