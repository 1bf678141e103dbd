// Replacing a file so that a reader (or a power cut) sees either the old or the new content,
// never half of one: write a temporary file beside it, fsync it, rename it over, fsync the
// directory (the rename is a directory entry; it survives power loss only after that).
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of a new file (default 0o600: state files are nobody else's business). */
  readonly mode?: number;
  /**
   * false skips both fsyncs: still all-or-nothing for readers, but a power cut may lose the
   * write. For display-only files rewritten every few seconds (status.json), where an fsync per
   * write would only wear the SD card.
   */
  readonly durable?: boolean;
  /** Mode of the directory when it has to be created. */
  readonly dirMode?: number;
  /** A fixed temporary file (the seal journal removes its own at open); unique per write otherwise. */
  readonly tempPath?: string;
}

let tempCounter = 0;

export async function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[], options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const durable = options.durable ?? true;
  // Unique per write: two writers in one process never share a temporary file.
  const temp = options.tempPath ?? `${path}.${process.pid}.${++tempCounter}.tmp`;
  try {
    await mkdir(dir, { recursive: true, ...(options.dirMode === undefined ? {} : { mode: options.dirMode }) });
    const fh = await open(temp, 'w', options.mode ?? 0o600);
    try {
      if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data);
      else for (const chunk of data) await fh.write(chunk);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  if (durable) await syncDir(dir);
}

/** fsync of a directory: makes a rename or a new entry in it survive power loss. */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
