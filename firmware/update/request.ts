// The agent's request to install an announced update, and root's answer to it. The agent runs
// without root and cannot call RAUC; it downloads the bundle the root-signed announcement names,
// checks its SHA-256 and size, and writes update-request.json durably. A root path unit
// (btn-node-update.path) then runs `btn-node update apply-request`, which checks the file's
// hash again (the agent's word is not enough for root), installs through installUpdate (RAUC
// checks the bundle's signature, board and version rules), and restarts into the new slot; the
// next boot's health check keeps it or rolls back.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from '../core/atomic-write.ts';
import { sha256OfFile } from '../core/file-hash.ts';
import { hexText, integer, literal, object, parseJson, readWith, string, type Reader } from '../core/json.ts';
import { MAX_ANNOUNCED_BUNDLE_BYTES } from '../protocol/update-announcement.ts';
import { UpdateError } from './errors.ts';
import { installUpdate, type Installed, type UpdateDeps } from './install.ts';
import { VERSION_PATTERN } from './version.ts';

export const REQUEST_FILE = 'update-request.json';
/** Where the agent keeps a downloaded bundle: beside its state, on the data partition. */
export const DOWNLOAD_DIR = 'update-download';
const MAX_REQUEST_BYTES = 4096;

export interface InstallRequest {
  readonly version: 1;
  readonly target: string;
  /** The bundle's file name inside <stateDir>/update-download (never a path). */
  readonly file: string;
  readonly sha256: string;
  readonly size: number;
  readonly at: number;
}

const requestReader: Reader<InstallRequest> = object({
  version: literal(1),
  target: string({ max: 64, pattern: VERSION_PATTERN, what: 'a semantic version' }),
  file: string({ min: 1, max: 128, pattern: /^[A-Za-z0-9._+-]+\.raucb$/, what: 'a bundle file name' }),
  sha256: hexText({ bytes: 32, lowercase: true }),
  size: integer({ min: 1, max: MAX_ANNOUNCED_BUNDLE_BYTES }),
  at: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

export async function writeRequest(stateDir: string, r: InstallRequest): Promise<void> {
  await writeFileAtomic(join(stateDir, REQUEST_FILE), JSON.stringify(r) + '\n', { mode: 0o644 });
}

/** The request, or null when there is none; a damaged one is an error naming what is wrong. */
export async function readRequest(stateDir: string): Promise<InstallRequest | null> {
  let text: string;
  try {
    text = await readFile(join(stateDir, REQUEST_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (Buffer.byteLength(text) > MAX_REQUEST_BYTES) throw new UpdateError('ERR_UPDATE_REQUEST', `${REQUEST_FILE} is larger than ${MAX_REQUEST_BYTES} bytes`, {});
  return readWith(requestReader, parseJson(text, MAX_REQUEST_BYTES, REQUEST_FILE), REQUEST_FILE, (e) => new UpdateError('ERR_UPDATE_REQUEST', e.message, {}));
}

/**
 * Root's side: the request's bundle, hashed again, installed (and the device restarted with
 * reboot). The request and the download are gone afterwards, whatever happened; a refusal is
 * thrown with its own code and also written as the update's outcome by the caller.
 */
export async function applyRequest(deps: UpdateDeps, stateDir: string, o: { readonly reboot: boolean }): Promise<Installed | null> {
  const r = await readRequest(stateDir);
  if (r === null) return null;
  const file = join(stateDir, DOWNLOAD_DIR, r.file);
  // One attempt per request, taken before anything is installed: a power cut during the install
  // must not start it again at the next boot (the health check reports it unfinished instead).
  await rm(join(stateDir, REQUEST_FILE), { force: true });
  await syncDir(stateDir);
  try {
    const got = await sha256OfFile(file).catch((err: unknown) => {
      throw new UpdateError('ERR_UPDATE_FILE', `${file}: ${(err as Error).message}`, { file });
    });
    if (got.sha256 !== r.sha256 || got.size !== r.size) {
      throw new UpdateError('ERR_UPDATE_FILE', `${file} is not the announced bundle (SHA-256 ${got.sha256.slice(0, 16)}..., ${got.size} bytes; announced ${r.sha256.slice(0, 16)}..., ${r.size} bytes): not installed`, { file });
    }
    const done = await installUpdate(deps, { file, reboot: false });
    // Removed before the restart: the bundle is in the other slot now, its file only takes room.
    await cleanUp(stateDir);
    if (o.reboot) await deps.reboot();
    return done;
  } finally {
    await cleanUp(stateDir);
  }
}

async function cleanUp(stateDir: string): Promise<void> {
  await rm(join(stateDir, REQUEST_FILE), { force: true });
  await rm(join(stateDir, DOWNLOAD_DIR), { recursive: true, force: true });
}
