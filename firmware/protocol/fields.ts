// Field readers for JSON messages from outside: each names the field it rejects. The rules are
// the same for every network message: unknown keys are refused (a message means exactly what its
// schema says), hex is accepted in either case and written in lowercase, and sizes are capped
// before JSON.parse (by the transport's per-subscription cap, or parseJson for raw payloads).
import { ProtocolError } from './errors.ts';
import { fromHex } from '../core/bytes.ts';

export type Json = Record<string, unknown>;

export function object(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${field} must be an object`, field);
  }
  return value as Json;
}

export function integer(o: Json, key: string, min: number, max: number, where = ''): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${where}${key} must be an integer in ${min}..${max}`, key);
  }
  return v;
}

export function hexBytes(o: Json, key: string, minBytes: number, maxBytes: number, where = ''): Uint8Array {
  const v = o[key];
  if (typeof v !== 'string' || v.length % 2 !== 0 || v.length < 2 * minBytes || v.length > 2 * maxBytes || !/^[0-9a-f]*$/i.test(v)) {
    const size = minBytes === maxBytes ? `${minBytes}` : `${minBytes}..${maxBytes}`;
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${where}${key} must be ${size} bytes of hex`, key);
  }
  return fromHex(v);
}

export function text(o: Json, key: string, maxLength: number, pattern: RegExp, where = ''): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength || !pattern.test(v)) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${where}${key} must be a string of at most ${maxLength} characters matching ${pattern}`, key);
  }
  return v;
}

export function parseJson(payload: Uint8Array | string, maxBytes: number, what: string): unknown {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) throw new ProtocolError('ERR_PROTOCOL_OVERSIZE', `${what} is ${size} bytes, at most ${maxBytes}`);
  try {
    return JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${what} is not valid JSON`);
  }
}

/** Refuses keys outside `allowed`: the same strictness for every network message. */
export function onlyKeys(o: Json, allowed: ReadonlySet<string>, where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${where}${k.slice(0, 40)} is not a field of this message`, k);
  }
}
