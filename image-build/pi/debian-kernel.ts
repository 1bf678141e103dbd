// Debian's kernel package for a Pi's architecture, on the build host, without root: the
// signed InRelease (checked with gpgv against the Debian archive keyring) names the SHA-256 of
// the Packages index, which names the SHA-256 of the .deb; dpkg-deb -x unpacks it into a cache
// directory. Why not `apt-get download`: that needs `dpkg --add-architecture arm64` and an apt
// update as root on the build host, changing its package state for one file; this needs neither
// and checks the same signature chain apt would.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { PiBuildError, stderrTail } from './errors.ts';

const run = promisify(execFile);
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const MAX_RELEASE_BYTES = 1024 * 1024;
const MAX_INDEX_GZ_BYTES = 64 * 1024 * 1024; // bookworm arm64 main: 12 MB
const MAX_INDEX_BYTES = 256 * 1024 * 1024; // unpacked: 49 MB
const MAX_DEB_BYTES = 256 * 1024 * 1024; // linux-image-6.1.0-*-arm64: 60 MB
const TIMEOUT_MS = 300_000;

/** Debian's kernel flavour per architecture: the metapackage is linux-image-<flavour>. */
const FLAVOUR = { arm64: 'arm64', armhf: 'armmp' } as const;
export type PiDebianArch = keyof typeof FLAVOUR;

export interface DebianKernel {
  readonly package: string;
  readonly version: string;
  readonly deb: string;
  /** The unpacked package: usr/lib/linux-image-<abi>/, lib/modules/<abi>/, boot/. */
  readonly root: string;
  /** True when the .deb came from the cache (hash checked again), not the mirror. */
  readonly cached: boolean;
}

/** The response body of a GET that answered 200, or ERR_PI_DOWNLOAD. */
async function get(url: string): Promise<Readable> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new PiBuildError('ERR_PI_DOWNLOAD', `GET ${url}: ${(err as Error).message}`, { url }, { cause: err });
  }
  if (!res.ok || res.body === null) throw new PiBuildError('ERR_PI_DOWNLOAD', `GET ${url}: HTTP ${res.status}`, { url, status: res.status });
  return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
}

async function fetchBytes(url: string, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of (await get(url)) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new PiBuildError('ERR_PI_DOWNLOAD', `GET ${url}: more than ${max} bytes`, { url, max });
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** The signed part of an InRelease file, or a clear error when the signature does not verify. */
export async function verifyInRelease(inRelease: string, keyring = DEBIAN_KEYRING): Promise<string> {
  try {
    await stat(keyring);
  } catch {
    throw new PiBuildError('ERR_PI_SIGNATURE', `keyring ${keyring} missing: install Debian's debian-archive-keyring`, { keyring });
  }
  try {
    return (await run('gpgv', ['--quiet', '--keyring', keyring, '--output', '-', inRelease], { maxBuffer: 4 * MAX_RELEASE_BYTES })).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PiBuildError('ERR_PI_TOOL', 'gpgv not found: install Debian\'s gpgv', { tool: 'gpgv' });
    throw new PiBuildError('ERR_PI_SIGNATURE', `${inRelease} does not verify against ${keyring}: ${stderrTail(err)}`, { file: inRelease, keyring });
  }
}

/** SHA-256 and size of one file named in a Release file's SHA256 section. */
export function releaseEntry(release: string, path: string): { sha256: string; size: number } {
  const section = release.split(/^SHA256:\s*$/m)[1] ?? '';
  for (const line of section.split('\n')) {
    if (!line.startsWith(' ')) { if (line.trim() !== '') break; continue; }
    const [hash, size, name] = line.trim().split(/\s+/);
    if (name === path && hash !== undefined && /^[0-9a-f]{64}$/.test(hash)) return { sha256: hash, size: Number(size) };
  }
  throw new PiBuildError('ERR_PI_INDEX', `the signed Release file names no SHA256 for ${path}`, { path });
}

/** Splits a Packages index into stanzas keyed by field, keeping only those whose Package matches. */
export function packageStanzas(index: string, keep: (name: string) => boolean): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  for (const block of index.split('\n\n')) {
    const name = /^Package: (\S+)$/m.exec(block)?.[1];
    if (name === undefined || !keep(name)) continue;
    const fields = new Map<string, string>();
    for (const m of block.matchAll(/^([\w-]+): ?(.*)$/gm)) fields.set(m[1] as string, m[2] as string);
    out.push(fields);
  }
  return out;
}

/** The concrete kernel package the metapackage depends on, with its pool path and hash. */
export function resolveKernel(index: string, arch: PiDebianArch): { package: string; version: string; filename: string; sha256: string; size: number } {
  const meta = `linux-image-${FLAVOUR[arch]}`;
  const stanzas = packageStanzas(index, (n) => n.startsWith('linux-image-'));
  const m = stanzas.find((s) => s.get('Package') === meta);
  const dep = /^(linux-image-[0-9][\w.+-]*-(?:arm64|armmp)) \(= ([\w.+~:-]+)\)/.exec(m?.get('Depends') ?? '');
  if (dep === null) throw new PiBuildError('ERR_PI_INDEX', `${meta}: no 'Depends: linux-image-<abi>-${FLAVOUR[arch]} (= version)' in the ${arch} index`, { meta });
  const [, pkg, version] = dep as unknown as [string, string, string];
  const k = stanzas.find((s) => s.get('Package') === pkg && s.get('Version') === version);
  const filename = k?.get('Filename') ?? '';
  const sha256 = k?.get('SHA256') ?? '';
  const size = Number(k?.get('Size'));
  if (!/^pool\/main\/[\w/.+~-]+\.deb$/.test(filename) || filename.includes('..') || !/^[0-9a-f]{64}$/.test(sha256) || !(size > 0 && size <= MAX_DEB_BYTES)) {
    throw new PiBuildError('ERR_PI_INDEX', `${pkg} ${version}: the index gives no usable Filename/SHA256/Size`, { package: pkg, version, filename, size });
  }
  return { package: pkg, version, filename, sha256, size };
}

async function sha256File(file: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(file)).digest('hex');
  } catch {
    return null;
  }
}

async function download(url: string, file: string, want: { sha256: string; size: number }): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const part = `${file}.part`;
  const body = await get(url);
  body.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > want.size) body.destroy(new PiBuildError('ERR_PI_DOWNLOAD', `GET ${url}: more than the ${want.size} bytes the index names`, { url }));
    hash.update(chunk);
  });
  try {
    await pipeline(body, createWriteStream(part));
  } catch (err) {
    await rm(part, { force: true });
    if (err instanceof PiBuildError) throw err;
    throw new PiBuildError('ERR_PI_DOWNLOAD', `GET ${url}: ${(err as Error).message}`, { url }, { cause: err });
  }
  const got = hash.digest('hex');
  if (got !== want.sha256 || size !== want.size) {
    await rm(part, { force: true });
    throw new PiBuildError('ERR_PI_CHECKSUM', `${url}: SHA-256 ${got} (${size} bytes), the signed index says ${want.sha256} (${want.size} bytes)`, { url });
  }
  await rename(part, file);
}

/**
 * The current Debian kernel package for arch, checked and unpacked under cacheDir/<arch>/.
 * A .deb already in the cache is used when its SHA-256 still matches the index; the index itself
 * is always fetched (it is what says which kernel is current).
 */
export async function fetchDebianKernel(o: { arch: PiDebianArch; cacheDir: string; suite?: string; mirror?: string; keyring?: string; log?: (line: string) => void }): Promise<DebianKernel> {
  const log = o.log ?? (() => {});
  const mirror = o.mirror ?? DEBIAN_MIRROR;
  const suite = o.suite ?? 'bookworm';
  if (!/^[a-z]{2,20}$/.test(suite)) throw new PiBuildError('ERR_PI_INDEX', `suite ${JSON.stringify(suite)} is not a Debian suite name`, { suite });
  const dir = join(o.cacheDir, o.arch);
  await mkdir(dir, { recursive: true });

  const inRelease = join(dir, 'InRelease');
  await writeFile(inRelease, await fetchBytes(`${mirror}/dists/${suite}/InRelease`, MAX_RELEASE_BYTES));
  const release = await verifyInRelease(inRelease, o.keyring);
  const indexPath = `main/binary-${o.arch}/Packages.gz`;
  const want = releaseEntry(release, indexPath);
  const gz = await fetchBytes(`${mirror}/dists/${suite}/${indexPath}`, MAX_INDEX_GZ_BYTES);
  const got = createHash('sha256').update(gz).digest('hex');
  if (got !== want.sha256 || gz.length !== want.size) throw new PiBuildError('ERR_PI_CHECKSUM', `${indexPath}: SHA-256 ${got}, the signed Release says ${want.sha256}`, { path: indexPath });
  let index: string;
  try {
    index = gunzipSync(gz, { maxOutputLength: MAX_INDEX_BYTES }).toString('utf8');
  } catch (err) {
    throw new PiBuildError('ERR_PI_INDEX', `${indexPath}: ${(err as Error).message}`, { path: indexPath }, { cause: err });
  }
  const k = resolveKernel(index, o.arch);
  log(`${suite} ${o.arch}: ${k.package} ${k.version} (${(k.size / 1e6).toFixed(1)} MB)`);

  const deb = join(dir, basename(k.filename));
  const cached = (await sha256File(deb)) === k.sha256;
  if (!cached) await download(`${mirror}/${k.filename}`, deb, k);
  const root = join(dir, basename(k.filename, '.deb'));
  const stamp = join(root, '.btn-unpacked');
  if (!(cached && (await stat(stamp).then(() => true, () => false)))) {
    await rm(root, { recursive: true, force: true });
    try {
      await run('dpkg-deb', ['-x', deb, root]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PiBuildError('ERR_PI_TOOL', 'dpkg-deb not found', { tool: 'dpkg-deb' });
      throw new PiBuildError('ERR_PI_TOOL', `dpkg-deb -x ${deb}: ${stderrTail(err)}`, { file: deb });
    }
    await writeFile(stamp, `${k.package} ${k.version} ${k.sha256}\n`);
  }
  return { package: k.package, version: k.version, deb, root, cached };
}

/** The `alias=` entries of an uncompressed kernel module's .modinfo (what modprobe matches on). */
export async function moduleAliases(ko: string): Promise<string[]> {
  const bytes = await readFile(ko);
  if (bytes.length < 4 || bytes.readUInt32BE(0) !== 0x7f454c46) throw new PiBuildError('ERR_PI_CHECK', `${ko} is not an uncompressed ELF module`, { file: ko });
  const out: string[] = [];
  for (const s of bytes.toString('latin1').split('\0')) if (s.startsWith('alias=') && s.length < 256) out.push(s.slice('alias='.length));
  return out;
}
