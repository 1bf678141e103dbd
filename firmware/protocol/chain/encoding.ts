// Canonical binary encoding used for every hash and signature of the chain.
//
// All integers are unsigned big-endian (network order): u8, u16, u32, u64 (bigint).
// Variable-length byte strings carry a u16 (`bytes16`) or u32 (`bytes32`) length prefix and
// a hard cap checked on both write and read. There are no optional fields at this level: a
// presence flag is a u8 that must be 0 or 1. A reader must consume its input exactly, so
// every byte string has one and only one decoding (no trailing bytes, no alternative forms).
import { ChainError, malformed, oversize } from './errors.ts';

export const U64_MAX = 0xffff_ffff_ffff_ffffn;

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private readonly maxBytes: number;

  constructor(maxBytes: number, initialBytes = 256) {
    this.maxBytes = maxBytes;
    this.buf = new Uint8Array(Math.min(initialBytes, maxBytes));
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  u8(v: number, field = 'u8'): this {
    checkInt(v, 0xff, field);
    this.reserve(1, field);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u16(v: number, field = 'u16'): this {
    checkInt(v, 0xffff, field);
    this.reserve(2, field);
    this.view.setUint16(this.pos, v, false);
    this.pos += 2;
    return this;
  }

  u32(v: number, field = 'u32'): this {
    checkInt(v, 0xffff_ffff, field);
    this.reserve(4, field);
    this.view.setUint32(this.pos, v, false);
    this.pos += 4;
    return this;
  }

  u64(v: bigint, field = 'u64'): this {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) {
      throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `${field} must be a bigint in 0..2^64-1`, field);
    }
    this.reserve(8, field);
    this.view.setBigUint64(this.pos, v, false);
    this.pos += 8;
    return this;
  }

  /** Exactly `length` bytes, no prefix. */
  fixed(bytes: Uint8Array, length: number, field = 'bytes'): this {
    if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
      throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `${field} must be ${length} bytes`, field);
    }
    this.reserve(length, field);
    this.buf.set(bytes, this.pos);
    this.pos += length;
    return this;
  }

  /** u16 length prefix, then the bytes; at most `max` bytes (<= 65535). */
  bytes16(bytes: Uint8Array, max: number, field = 'bytes'): this {
    checkVar(bytes, Math.min(max, 0xffff), field);
    this.u16(bytes.length, field);
    return this.raw(bytes, field);
  }

  /** u32 length prefix, then the bytes; at most `max` bytes. */
  bytes32(bytes: Uint8Array, max: number, field = 'bytes'): this {
    checkVar(bytes, Math.min(max, 0xffff_ffff), field);
    this.u32(bytes.length, field);
    return this.raw(bytes, field);
  }

  /** Bytes appended as they are (already-canonical sub-encodings). */
  raw(bytes: Uint8Array, field = 'bytes'): this {
    this.reserve(bytes.length, field);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private reserve(n: number, field: string): void {
    const need = this.pos + n;
    if (need > this.maxBytes) throw oversize(`encoding exceeds ${this.maxBytes} bytes at ${field}`, field);
    if (need <= this.buf.length) return;
    const next = new Uint8Array(Math.min(this.maxBytes, Math.max(need, this.buf.length * 2)));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

export class ByteReader {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(bytes: Uint8Array, maxBytes: number, what = 'input') {
    if (!(bytes instanceof Uint8Array)) throw malformed(`${what} must be a Uint8Array`);
    if (bytes.length > maxBytes) throw oversize(`${what} is ${bytes.length} bytes, at most ${maxBytes}`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  u8(field = 'u8'): number {
    this.need(1, field);
    return this.view.getUint8(this.pos++);
  }

  u16(field = 'u16'): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos, false);
    this.pos += 2;
    return v;
  }

  u32(field = 'u32'): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, false);
    this.pos += 4;
    return v;
  }

  u64(field = 'u64'): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos, false);
    this.pos += 8;
    return v;
  }

  /** A presence flag: 0 or 1, nothing else (one encoding per value). */
  flag(field = 'flag'): boolean {
    const v = this.u8(field);
    if (v > 1) throw malformed(`${field} must be 0 or 1, got ${v}`, field);
    return v === 1;
  }

  fixed(length: number, field = 'bytes'): Uint8Array {
    this.need(length, field);
    const out = this.bytes.slice(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  bytes16(max: number, field = 'bytes', min = 0): Uint8Array {
    return this.sized(this.u16(field), min, max, field);
  }

  bytes32(max: number, field = 'bytes', min = 0): Uint8Array {
    return this.sized(this.u32(field), min, max, field);
  }

  /** Throws unless every byte was consumed. */
  end(what = 'input'): void {
    if (this.pos !== this.bytes.length) {
      throw malformed(`${what} has ${this.bytes.length - this.pos} trailing bytes`);
    }
  }

  private sized(length: number, min: number, max: number, field: string): Uint8Array {
    if (length > max) throw oversize(`${field} is ${length} bytes, at most ${max}`, field);
    if (length < min) throw malformed(`${field} is ${length} bytes, at least ${min}`, field);
    return this.fixed(length, field);
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.bytes.length) {
      throw malformed(`truncated at ${field}: need ${n} bytes at offset ${this.pos}, have ${this.bytes.length - this.pos}`, field);
    }
  }
}

function checkInt(v: number, max: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `${field} must be an integer in 0..${max}, got ${String(v)}`, field);
  }
}

function checkVar(bytes: Uint8Array, max: number, field: string): void {
  if (!(bytes instanceof Uint8Array)) throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `${field} must be a Uint8Array`, field);
  if (bytes.length > max) throw oversize(`${field} is ${bytes.length} bytes, at most ${max}`, field);
}

