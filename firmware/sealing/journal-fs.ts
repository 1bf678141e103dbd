// File steps of the seal journal that must survive power loss: write-fsync-rename-fsync(dir).
import { stat } from 'node:fs/promises';
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
