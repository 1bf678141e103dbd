// `btn-node update install URL`: the household's way with a link instead of a file. The bundle is
// downloaded into the data partition (the slots cannot hold it; the card's room is checked first),
// bounded by the largest bundle there can be, then installed exactly as a file is: RAUC checks its
// signature against the image's keyring, so where it came from does not matter. The download is
// removed whatever happens.
import { mkdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdateError } from './errors.ts';
import { download } from './announcements.ts';
import { installUpdate, MAX_BUNDLE_BYTES, type InstallOptions, type Installed, type UpdateDeps } from './install.ts';
import { DOWNLOAD_DIR } from './request.ts';

const MANUAL_FILE = 'manual.raucb';

export function isBundleUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

export async function installFromUrl(deps: UpdateDeps, stateDir: string, url: string, o: Omit<InstallOptions, 'file'> & { readonly signal?: AbortSignal }): Promise<Installed> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UpdateError('ERR_UPDATE_FILE', `not a URL: ${JSON.stringify(url.slice(0, 200))}`, {});
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UpdateError('ERR_UPDATE_FILE', `a bundle is fetched over http or https, not ${u.protocol}`, {});
  if (u.username !== '' || u.password !== '') throw new UpdateError('ERR_UPDATE_FILE', 'no credentials in the URL', {});
  const dir = join(stateDir, DOWNLOAD_DIR);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const file = join(dir, MANUAL_FILE);
  try {
    const room = await statfs(dir);
    const free = Number(room.bavail) * Number(room.bsize);
    const cap = Math.min(o.maxBytes ?? MAX_BUNDLE_BYTES, free);
    await download(u.href, file, cap, o.signal ?? new AbortController().signal).catch((err: unknown) => {
      throw new UpdateError('ERR_UPDATE_FILE', `${u.href}: ${(err as Error).message}${cap < (o.maxBytes ?? MAX_BUNDLE_BYTES) ? ` (${free} bytes free on the data partition)` : ''}`, { url: u.href }, { cause: err });
    });
    return await installUpdate(deps, { ...o, file });
  } finally {
    await rm(file, { force: true });
  }
}
