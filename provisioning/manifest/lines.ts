// Split a byte stream into manifest lines with caps: at most MAX_LINE_BYTES per line (longer
// lines are reported as too long and skipped, not buffered), at most `maxLines` lines.
import { ProvisioningError } from '../errors.ts';
import { MAX_BATCH_LINES, MAX_LINE_BYTES } from './line.ts';

export type RawLine =
  | { readonly line: number; readonly text: string }
  | { readonly line: number; readonly tooLong: true; readonly bytes: number };

export interface SplitOptions {
  readonly maxLines?: number;
  readonly maxLineBytes?: number;
  /** Called with every chunk as it arrives (hashing). */
  readonly onChunk?: (chunk: Uint8Array) => void;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

export async function* splitLines(source: AsyncIterable<Uint8Array>, options: SplitOptions = {}): AsyncGenerator<RawLine> {
  const maxLines = options.maxLines ?? MAX_BATCH_LINES;
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let skipping = false; // inside a line that is already too long
  let line = 0;
  const next = (): number => {
    line++;
    if (line > maxLines) throw new ProvisioningError('ERR_PROV_BATCH_TOO_LARGE', `batch has more than ${maxLines} lines`);
    return line;
  };
  for await (const chunk of source) {
    options.onChunk?.(chunk);
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (!skipping) {
        if (pendingBytes + piece.length > maxLineBytes) {
          skipping = true;
        } else if (piece.length > 0) {
          pending.push(piece);
        }
      }
      pendingBytes += piece.length;
      if (nl === -1) {
        // keep a copy: the source may reuse its chunk buffer
        if (!skipping && piece.length > 0) pending[pending.length - 1] = piece.slice();
        break;
      }
      yield emit(next(), pending, pendingBytes, skipping);
      pending = [];
      pendingBytes = 0;
      skipping = false;
      start = nl + 1;
    }
  }
  if (pendingBytes > 0) yield emit(next(), pending, pendingBytes, skipping);
}

function emit(line: number, parts: Uint8Array[], bytes: number, tooLong: boolean): RawLine {
  if (tooLong) return { line, tooLong: true, bytes };
  const text = parts.length === 1 ? decoder.decode(parts[0]) : decoder.decode(Buffer.concat(parts));
  return { line, text };
}
