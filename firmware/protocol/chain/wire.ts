// Field readers for the JSON wire form. Each throws ChainError naming the field it rejects.
// JSON is for transport only: nothing is ever hashed or signed over JSON text.
import { malformed, oversize } from './errors.ts';
import { U64_MAX } from './encoding.ts';

export type JsonObject = Record<string, unknown>;

export function object(value: unknown, field: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`${field} must be an object`, field);
  }
  return value as JsonObject;
}

/** Rejects any key not in `allowed`, so that one JSON object has one typed meaning. */
export function onlyKeys(o: JsonObject, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw malformed(`${where} has unknown field ${JSON.stringify(key.slice(0, 40))}`, `${where}.${key.slice(0, 40)}`);
  }
}

export function integer(o: JsonObject, key: string, max: number, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw malformed(`${where}.${key} must be an integer in 0..${max}`, `${where}.${key}`);
  }
  return v;
}

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/** A u64 as a decimal string (never a JSON number: it would lose precision above 2^53). */
export function u64Decimal(o: JsonObject, key: string, where: string): bigint {
  const v = o[key];
  if (typeof v !== 'string' || !DECIMAL.test(v)) {
    throw malformed(`${where}.${key} must be a decimal string without leading zeros`, `${where}.${key}`);
  }
  const n = BigInt(v);
  if (n > U64_MAX) throw malformed(`${where}.${key} exceeds 2^64-1`, `${where}.${key}`);
  return n;
}

export function parseJsonText(payload: Uint8Array | string, maxBytes: number, what: string): unknown {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) throw oversize(`${what} is ${size} bytes, at most ${maxBytes}`);
  try {
    const text = typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: true }).decode(payload);
    return JSON.parse(text) as unknown;
  } catch {
    throw malformed(`${what} is not valid JSON`);
  }
}
