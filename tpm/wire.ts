// TPM wire format (TPM2 Part 1 §9.4: big-endian, TPM2B = u16 size || bytes). Pure code.
import { TpmWireError } from './errors.ts';

export class WireWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  u8(value: number): this {
    return this.push(Uint8Array.of(value & 0xff));
  }

  u16(value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, false);
    return this.push(b);
  }

  u32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, false);
    return this.push(b);
  }

  bytes(value: Uint8Array): this {
    return this.push(value);
  }

  /** TPM2B: u16 size || bytes. */
  sized(value: Uint8Array): this {
    if (value.length > 0xffff) throw new TpmWireError(`TPM2B of ${value.length} bytes exceeds 65535`);
    return this.u16(value.length).push(value);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  private push(chunk: Uint8Array): this {
    this.chunks.push(chunk);
    this.length += chunk.length;
    return this;
  }
}

export class WireReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array, private readonly what = 'TPM structure') {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  u8(): number {
    this.need(1);
    return this.data[this.offset++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, false);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, false);
    this.offset += 4;
    return v;
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.data.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** TPM2B with an upper bound on its size. */
  sized(max: number, field: string): Uint8Array {
    const size = this.u16();
    if (size > max) throw new TpmWireError(`${this.what}: ${field} is ${size} bytes, at most ${max} allowed`);
    return this.bytes(size);
  }

  /**
   * TPM2B as a view into the data, not a copy: for a parser that copied its input once already
   * (parsePublicArea), so its fields need not each own a buffer.
   */
  sizedView(max: number, field: string): Uint8Array {
    const size = this.u16();
    if (size > max) throw new TpmWireError(`${this.what}: ${field} is ${size} bytes, at most ${max} allowed`);
    this.need(size);
    const out = this.data.subarray(this.offset, this.offset + size);
    this.offset += size;
    return out;
  }

  /** Fails unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) throw new TpmWireError(`${this.what}: ${this.remaining} trailing bytes`);
  }

  private need(n: number): void {
    if (this.offset + n > this.data.length) {
      throw new TpmWireError(`${this.what}: truncated at byte ${this.offset} (needed ${n} more, have ${this.remaining})`);
    }
  }
}
