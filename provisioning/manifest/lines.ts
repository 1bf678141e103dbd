// Split a byte stream into manifest lines with caps: at most MAX_LINE_BYTES per line (longer
// lines are reported as too long and skipped, not buffered), at most `maxLines` lines.
import { ProvisioningError } from '../errors.ts';
import { MAX_BATCH_LINES, MAX_LINE_BYTES } from './line.ts';

export type RawLine =
  | { readonly line: number; readonly text: string }
  | { readonly line: number; readonly tooLong: true; readonly bytes: number };

/** A line's bytes (without its newline; `parts` concatenated), or that it was too long. */
export type RawLineBytes =
  | { readonly line: number; readonly parts: readonly Uint8Array[]; readonly bytes: number }
  | { readonly line: number; readonly tooLong: true; readonly bytes: number };

export interface SplitOptions {
  readonly maxLines?: number;
  readonly maxLineBytes?: number;
  /** Called with every chunk as it arrives (hashing). */
  readonly onChunk?: (chunk: Uint8Array) => void;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * The splitter itself, synchronous: push() chunks, end() at the end of the stream; each line goes
 * to `emit` as it completes. Parts handed out are views of the pushed chunk, valid until the next
 * push (the source may reuse its buffer): copy what is kept.
 */
export class LineSplitter {
  readonly #maxLines: number;
  readonly #maxLineBytes: number;
  readonly #emit: (line: RawLineBytes) => void;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #skipping = false; // inside a line that is already too long
  #line = 0;

  constructor(emit: (line: RawLineBytes) => void, options: { readonly maxLines?: number; readonly maxLineBytes?: number } = {}) {
    this.#emit = emit;
    this.#maxLines = options.maxLines ?? MAX_BATCH_LINES;
    this.#maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  }

  push(chunk: Uint8Array): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (!this.#skipping) {
        if (this.#pendingBytes + piece.length > this.#maxLineBytes) {
          this.#skipping = true;
        } else if (piece.length > 0) {
          this.#pending.push(piece);
        }
      }
      this.#pendingBytes += piece.length;
      if (nl === -1) {
        // keep a copy: the source may reuse its chunk buffer
        if (!this.#skipping && piece.length > 0) this.#pending[this.#pending.length - 1] = piece.slice();
        break;
      }
      this.#flush();
      start = nl + 1;
    }
  }

  end(): void {
    if (this.#pendingBytes > 0) this.#flush();
  }

  #flush(): void {
    this.#line++;
    if (this.#line > this.#maxLines) throw new ProvisioningError('ERR_PROV_BATCH_TOO_LARGE', `batch has more than ${this.#maxLines} lines`);
    const line = this.#line, bytes = this.#pendingBytes;
    const out: RawLineBytes = this.#skipping ? { line, tooLong: true, bytes } : { line, parts: this.#pending, bytes };
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#skipping = false;
    this.#emit(out);
  }
}

/** A line's text as the manifest's readers take it (UTF-8, not fatal: the JSON parse rejects). */
export function lineText(parts: readonly Uint8Array[]): string {
  return parts.length === 0 ? '' : parts.length === 1 ? decoder.decode(parts[0]) : decoder.decode(Buffer.concat(parts));
}

export async function* splitLines(source: AsyncIterable<Uint8Array>, options: SplitOptions = {}): AsyncGenerator<RawLine> {
  let ready: RawLine[] = [];
  const splitter = new LineSplitter((l) => ready.push('tooLong' in l ? l : { line: l.line, text: lineText(l.parts) }), options);
  for await (const chunk of source) {
    options.onChunk?.(chunk);
    splitter.push(chunk);
    const out = ready;
    ready = [];
    yield* out;
  }
  splitter.end();
  yield* ready;
}
