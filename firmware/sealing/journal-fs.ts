// File steps of the seal journal that must survive power loss: write-fsync-rename-fsync(dir).
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-write.ts';

/** Writes `chunks` to `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory. */
export function createFile(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  return writeFileAtomic(path, chunks, { tempPath: `${path}.tmp` });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Writes zeros from `from` up to `to` and fsyncs (the size changed); returns the new file size. */
export async function reserveZeros(fh: FileHandle, from: number, to: number): Promise<number> {
  const zeros = new Uint8Array(to - from);
  let done = 0;
  while (done < zeros.length) done += (await fh.write(zeros, done, zeros.length - done, from + done)).bytesWritten;
  await fh.sync();
  return to;
}

export type CappedRead =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly reason: 'not-a-file' | 'too-large'; readonly size: number };

/**
 * Reads a regular file of at most `maxBytes`, opened read-only (nothing about it changes): the
 * bytes it had when it was opened, never more than the cap, even if it grows meanwhile. A
 * device or FIFO is never read.
 */
export async function readFileAtMost(path: string, maxBytes: number): Promise<CappedRead> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, reason: 'not-a-file', size: st.size };
    if (st.size > maxBytes) return { ok: false, reason: 'too-large', size: st.size };
    const buf = new Uint8Array(st.size);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break; // cut short meanwhile
      got += bytesRead;
    }
    return { ok: true, bytes: buf.subarray(0, got) };
  } finally {
    await fh.close();
  }
}
