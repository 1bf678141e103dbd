// File steps of the seal journal that must survive power loss: write-fsync-rename-fsync(dir).
import { open, rename, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes `chunks` to `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory. */
export async function createFile(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const temp = `${path}.tmp`;
  const fh = await open(temp, 'w');
  try {
    for (const c of chunks) await fh.write(c);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
  await syncDir(dirname(path));
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync(); // the rename (a directory entry) survives power loss only after this
  } finally {
    await d.close();
  }
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

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Writes zeros from `from` up to `to` and fsyncs (the size changed); returns the new file size. */
export async function reserveZeros(fh: FileHandle, from: number, to: number): Promise<number> {
  const zeros = new Uint8Array(to - from);
  let done = 0;
  while (done < zeros.length) done += (await fh.write(zeros, done, zeros.length - done, from + done)).bytesWritten;
  await fh.sync();
  return to;
}
