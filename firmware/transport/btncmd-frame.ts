// The whitepaper's BtnCmd frame for a direct TCP link to a primary node:
//   int32 flag | int32 length | UTF-8 body `name{json}`  (e.g. `seal{"height":1}`)
// Both integers are big-endian (network byte order, RFC 1700), signed as the whitepaper says:
// a negative length is garbage. The flag is a magic: only the known values are accepted, which
// is what lets the decoder tell a shifted/garbled stream from a real frame.
//
// Garbage policy (decided here):
// - unknown flag, negative or oversized length: the framing itself is lost -> FrameError thrown,
//   the caller drops the link (there is no safe way to find the next frame boundary).
// - known flag and sane length but the body is not valid UTF-8 or not `name{json-object}`: the
//   length is trusted, that one frame is skipped and reported, and decoding resynchronizes at
//   the next header.
import { FrameError, TransportError } from './errors.ts';

export const BTNCMD_HEADER_BYTES = 8;
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Known flag values: 'BTNC' (command) and 'BTNR' (reply), as big-endian int32. */
export const BtnCmdFlag = { command: 0x42544e43, reply: 0x42544e52 } as const;
export type BtnCmdFlagValue = (typeof BtnCmdFlag)[keyof typeof BtnCmdFlag];
const KNOWN_FLAGS: ReadonlySet<number> = new Set(Object.values(BtnCmdFlag));
const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

export interface BtnCmdFrame {
  readonly flag: BtnCmdFlagValue;
  readonly name: string;
  readonly body: Record<string, unknown>;
  /** Body length in bytes (without the 8-byte header). */
  readonly length: number;
}

/** One decoder output: a frame, or a skipped frame (known flag, bad body) with the reason. */
export type DecodedItem = { readonly ok: true; readonly frame: BtnCmdFrame } | { readonly ok: false; readonly error: FrameError };

export interface FrameCodecOptions {
  /** Largest body accepted or produced, in bytes. */
  readonly maxFrameBytes?: number;
  /** Allocation hook (tests measure allocations through it). */
  readonly allocate?: (bytes: number) => Uint8Array;
}

const utf8 = new TextEncoder();

export function encodeFrame(name: string, body: Record<string, unknown>, options: FrameCodecOptions & { flag?: BtnCmdFlagValue } = {}): Uint8Array {
  const max = maxBytes(options);
  const flag = options.flag ?? BtnCmdFlag.command;
  if (!KNOWN_FLAGS.has(flag)) throw new TransportError('ERR_TRANSPORT_OPTIONS', `unknown BtnCmd flag 0x${(flag >>> 0).toString(16)}`);
  if (typeof name !== 'string' || !NAME.test(name)) throw new TransportError('ERR_TRANSPORT_OPTIONS', `BtnCmd name must match ${NAME}, got ${JSON.stringify(String(name).slice(0, 80))}`);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new TransportError('ERR_TRANSPORT_PAYLOAD', 'BtnCmd body must be a JSON object');
  let json: string;
  try {
    json = JSON.stringify(body);
  } catch (e) {
    throw new TransportError('ERR_TRANSPORT_PAYLOAD', `BtnCmd body is not serializable: ${(e as Error).message}`);
  }
  const text = utf8.encode(name + json);
  if (text.length > max) throw new TransportError('ERR_TRANSPORT_PAYLOAD', `BtnCmd body is ${text.length} bytes, max ${max}`, { bytes: text.length, max });
  const out = new Uint8Array(BTNCMD_HEADER_BYTES + text.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, flag, false);
  view.setInt32(4, text.length, false);
  out.set(text, BTNCMD_HEADER_BYTES);
  return out;
}

/**
 * Streaming decoder: feed it whatever each read returns. Memory held is at most the 8-byte header
 * plus one body of at most maxFrameBytes; a body buffer is allocated only once its (capped) length
 * is known. After it has thrown, every later call throws again: the link is dead.
 */
export class FrameDecoder {
  readonly #max: number;
  readonly #allocate: (bytes: number) => Uint8Array;
  readonly #header = new Uint8Array(BTNCMD_HEADER_BYTES);
  readonly #text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  #headerFill = 0;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #flag = 0;
  #failed: FrameError | null = null;

  constructor(options: FrameCodecOptions = {}) {
    this.#max = maxBytes(options);
    this.#allocate = options.allocate ?? ((n) => new Uint8Array(n));
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.#headerFill + this.#bodyFill;
  }

  /** The fatal error, once the stream is lost (check it after a push that returned frames). */
  get error(): FrameError | null {
    return this.#failed;
  }

  /**
   * Decodes every complete frame in `chunk` (plus what was buffered). Throws FrameError when the
   * link must be dropped; frames completed earlier in the same chunk are returned first and the
   * error is thrown by the next call (and visible in `error` at once).
   */
  push(chunk: Uint8Array): DecodedItem[] {
    if (this.#failed) throw this.#failed;
    const out: DecodedItem[] = [];
    try {
      this.#consume(chunk, out);
    } catch (e) {
      if (out.length === 0) throw e;
    }
    return out;
  }

  #consume(chunk: Uint8Array, out: DecodedItem[]): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#body === null) {
        const take = Math.min(BTNCMD_HEADER_BYTES - this.#headerFill, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + take), this.#headerFill);
        this.#headerFill += take;
        i += take;
        if (this.#headerFill < BTNCMD_HEADER_BYTES) break;
        const length = this.#readHeader();
        if (chunk.length - i >= length) {
          // Whole body in this read: parse in place, no copy, no allocation.
          this.#headerFill = 0;
          out.push(parseBody(this.#flag as BtnCmdFlagValue, chunk.subarray(i, i + length), this.#text));
          i += length;
        } else {
          this.#body = this.#allocate(length);
          this.#bodyFill = 0;
        }
      } else {
        const take = Math.min(this.#body.length - this.#bodyFill, chunk.length - i);
        this.#body.set(chunk.subarray(i, i + take), this.#bodyFill);
        this.#bodyFill += take;
        i += take;
        if (this.#bodyFill === this.#body.length) this.#finishBody(out);
      }
    }
  }

  /** Call when the stream ends: throws FrameError('truncated') if a frame was cut off. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (this.bufferedBytes > 0) this.#fail('truncated', `stream ended inside a frame (${this.bufferedBytes} bytes buffered)`);
  }

  /** Validates the buffered header; returns the body length. */
  #readHeader(): number {
    const view = new DataView(this.#header.buffer);
    const flag = view.getInt32(0, false);
    const length = view.getInt32(4, false);
    if (!KNOWN_FLAGS.has(flag)) this.#fail('bad-flag', `unknown BtnCmd flag 0x${(flag >>> 0).toString(16).padStart(8, '0')}`, { flag });
    if (length < 0) this.#fail('negative-length', `negative BtnCmd length ${length}`, { length });
    if (length > this.#max) this.#fail('oversize', `BtnCmd length ${length} exceeds cap ${this.#max}`, { length, max: this.#max });
    this.#flag = flag;
    return length;
  }

  #finishBody(out: DecodedItem[]): void {
    const body = this.#body!;
    this.#body = null;
    this.#bodyFill = 0;
    this.#headerFill = 0;
    out.push(parseBody(this.#flag as BtnCmdFlagValue, body, this.#text));
  }

  #fail(reason: 'bad-flag' | 'negative-length' | 'oversize' | 'truncated', message: string, detail?: Record<string, unknown>): never {
    this.#failed = new FrameError(reason, message, detail);
    this.#body = null;
    throw this.#failed;
  }
}

function parseBody(flag: BtnCmdFlagValue, body: Uint8Array, decoder: { decode(input: Uint8Array): string }): DecodedItem {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { ok: false, error: new FrameError('invalid-utf8', 'BtnCmd body is not valid UTF-8', { length: body.length }) };
  }
  const brace = text.indexOf('{');
  const name = brace < 0 ? text : text.slice(0, brace);
  if (brace < 0 || !NAME.test(name)) {
    return { ok: false, error: new FrameError('bad-body', 'BtnCmd body must be a command name followed by a JSON object', { length: body.length }) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text.slice(brace));
  } catch (e) {
    return { ok: false, error: new FrameError('bad-body', `BtnCmd ${name} JSON does not parse: ${(e as Error).message.slice(0, 120)}`, { name }) };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, error: new FrameError('bad-body', `BtnCmd ${name} JSON must be an object`, { name }) };
  }
  return { ok: true, frame: { flag, name, body: value as Record<string, unknown>, length: body.length } };
}

function maxBytes(options: FrameCodecOptions): number {
  const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(max) || max < 2 || max > 0x7fff_ffff) throw new TransportError('ERR_TRANSPORT_OPTIONS', `maxFrameBytes must be an integer in [2, 2^31-1], got ${max}`);
  return max;
}
