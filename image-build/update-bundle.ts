// A signed RAUC bundle of a board's root file system: what an update writes into the other root
// slot. The image is slot A of the disk `npm run image` built (copied out of its partition, so a
// bundle carries exactly what a fresh device runs), with /usr/lib/btn-node/version stamped to
// the bundle's version, shrunk to the least its files need (the slot's system.conf has RAUC grow it
// to the slot after writing, resize=true: an install writes ~0.8 GB, not the 1.5 GiB slot); then
// `rauc bundle` (format verity) signs it with the vendor's key.
// Usage: npm run update-bundle -- --board qemu-x86_64 --out DIR [--key K --cert C] [--version V]
//          [--image-dir DIR | --rootfs FILE.ext4 [--boot FILE.vfat]] [--keyring CA.pem]
//   --image-dir: where `npm run image` left the disk (default image-build/out/BOARD; built there
//   first if absent, which needs root); --rootfs: an ext4 image to bundle instead; --boot: a
//   Raspberry Pi's boot slot (FAT image of partition 2), installed with the root file system.
//   --key/--cert: the signing key and certificate (default: the development keys of
//   signing-keys.ts, whose CA then also checks the result); --keyring: check the signed bundle
//   against this CA as a device would.
// Needs rauc and squashfs-tools (mksquashfs), e2fsprogs (debugfs).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { VERSION_PATTERN } from '../firmware/update/version.ts';
import { compatible, VERSION_FILE } from './ab-slots.ts';
import { extractPartition, partitions, type DiskLayout } from './disk.ts';
import { devSigningKeys } from './signing-keys.ts';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleOptions {
  readonly board: string;
  readonly out: string;
  /** An ext4 image of the root file system (copied; the original is never changed). */
  readonly rootfs: string;
  /** A Raspberry Pi's boot slot as a FAT image (firmware, kernel, DTBs): RAUC's boot.N slots, children of rootfs.N. */
  readonly boot?: string;
  readonly version: string;
  readonly key: string;
  readonly cert: string;
  /** Checked against after signing, as a device would (rauc bundle --keyring). */
  readonly keyring?: string;
  /** The manifest's build field: where the root file system came from. */
  readonly build?: string;
}

export interface BuiltBundle {
  readonly bundle: string;
  readonly bytes: number;
  /** The root file system image in it: what an install writes into the slot. */
  readonly imageBytes: number;
  readonly seconds: number;
}

export async function makeBundle(o: BundleOptions): Promise<BuiltBundle> {
  if (!VERSION_PATTERN.test(o.version)) throw new Error(`version must be semantic (1.2.3, 1.2.3-rc1), got ${JSON.stringify(o.version.slice(0, 80))}`);
  const compat = compatible(o.board);
  const started = Date.now();
  const work = await mkdtemp(join(tmpdir(), 'btn-bundle-'));
  try {
    const content = join(work, 'content');
    await mkdir(content);
    const image = join(content, 'rootfs.ext4');
    await run('cp', ['--sparse=always', o.rootfs, image]);
    await stampVersion(image, o.version, work);
    const imageBytes = await shrinkExt4(image);
    if (o.boot) await run('cp', ['--sparse=always', o.boot, join(content, 'boot.vfat')]);
    await writeFile(join(content, 'manifest.raucm'), [
      '[update]',
      `compatible=${compat}`,
      `version=${o.version}`,
      ...(o.build ? [`build=${o.build.replace(/[^\w.+:-]/g, '_').slice(0, 64)}`] : []),
      `description=btn-node ${o.board}`,
      '',
      // verity: the device checks the signature over a small manifest and the squashfs block by
      // block through dm-verity as it reads it, so a bundle cannot change between check and use,
      // and it can be streamed; plain bundles are refused by the image's system.conf.
      '[bundle]',
      'format=verity',
      '',
      '[image.rootfs]',
      'filename=rootfs.ext4',
      '',
      ...(o.boot ? ['[image.boot]', 'filename=boot.vfat', ''] : []),
    ].join('\n'));
    await mkdir(o.out, { recursive: true });
    const bundle = join(resolve(o.out), `btn-node-${o.board}-${o.version}.raucb`);
    await rm(bundle, { force: true });
    await run('rauc', ['bundle', '--cert', o.cert, '--key', o.key, ...(o.keyring ? ['--keyring', o.keyring] : []), content, bundle], { maxBuffer: 16 * 1024 * 1024 });
    return { bundle, bytes: (await stat(bundle)).size, imageBytes, seconds: Math.round((Date.now() - started) / 100) / 10 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Writes the version into the image's VERSION_FILE with debugfs (no mount): the slot then says what it is. */
async function stampVersion(image: string, version: string, work: string): Promise<void> {
  const file = join(work, 'version');
  await writeFile(file, `${version}\n`, { mode: 0o644 });
  // rm fails harmlessly on an image without the file; write then makes it.
  await run('debugfs', ['-w', '-R', `rm ${VERSION_FILE}`, image]).catch(() => undefined);
  const { stdout, stderr } = await run('debugfs', ['-w', '-R', `write ${file} ${VERSION_FILE}`, image]);
  if (/error|not found|could not/i.test(stdout + stderr)) throw new Error(`debugfs could not write ${VERSION_FILE} into ${image}: ${(stdout + stderr).trim().slice(0, 400)}`);
}

/**
 * Shrinks an ext4 image file to its minimum (e2fsck first: resize2fs refuses to shrink a file
 * system not checked since its last change) and cuts the file to the file system's new end.
 */
export async function shrinkExt4(image: string): Promise<number> {
  // Exit 1 means e2fsck corrected something (debugfs leaves free counts to it); 2 and up are failures.
  await run('e2fsck', ['-f', '-y', image]).catch((err: Error & { code?: number; stdout?: string }) => {
    if (err.code !== 1) throw new Error(`e2fsck ${image}: ${String(err.stdout ?? err.message).trim().slice(-400)}`);
  });
  // resize2fs's minimum is an estimate from the layout it starts from: a second pass, on the
  // smaller layout, takes it another ~13 % lower (the x86 slot: 1036 MiB, then 896); a third gains nothing.
  let bytes = await ext4Bytes(image);
  for (let pass = 0; pass < 3; pass++) {
    await run('resize2fs', ['-M', image]);
    const now = await ext4Bytes(image);
    if (now >= bytes) break;
    bytes = now;
  }
  await run('truncate', ['-s', String(bytes), image]);
  return bytes;
}

/** An ext4 image's size by its superblock. */
async function ext4Bytes(image: string): Promise<number> {
  const { stdout } = await run('dumpe2fs', ['-h', image]);
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(stdout)?.[1] ?? NaN);
  const bytes = field('Block count') * field('Block size');
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`dumpe2fs ${image}: no block count and size in its header`);
  return bytes;
}

/** Slot A of the disk `npm run image` left in dir, as an ext4 image in work. */
export async function rootfsFromImage(dir: string, board: string, layout: DiskLayout, work: string): Promise<string> {
  const disk = join(dir, `btn-node-${board}.img`);
  if (!existsSync(disk)) throw new Error(`${disk}: no image (npm run image -- --board ${board})`);
  const out = join(work, 'rootfs.ext4');
  await extractPartition(disk, partitions(layout).root, out);
  return out;
}

async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: {
    board: { type: 'string' }, out: { type: 'string' }, key: { type: 'string' }, cert: { type: 'string' }, version: { type: 'string' },
    'image-dir': { type: 'string' }, rootfs: { type: 'string' }, boot: { type: 'string' }, keyring: { type: 'string' },
  } });
  if (!values.board || !values.out || Boolean(values.key) !== Boolean(values.cert)) {
    throw new Error('usage: npm run update-bundle -- --board BOARD --out DIR [--key K --cert C] [--version V] [--image-dir DIR | --rootfs FILE.ext4 [--boot FILE.vfat]] [--keyring CA.pem]');
  }
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  const dev = values.key ? undefined : await devSigningKeys(log);
  const work = await mkdtemp(join(tmpdir(), 'btn-bundle-src-'));
  try {
    let rootfs = values.rootfs;
    let build: string | undefined;
    // The Pi disk's slots are other partitions (pi/pi-disk.ts): given as files, see pi/README.md.
    if (!rootfs && values.board.startsWith('rpi')) throw new Error(`--board ${values.board}: give --rootfs (partition 5 of the image) and --boot (partition 2), see image-build/pi/README.md`);
    if (!rootfs) {
      const { X86_LAYOUT, buildImage } = await import('./build.ts');
      const dir = values['image-dir'] ?? join(ROOT, 'image-build/out', values.board);
      if (!values['image-dir'] && !existsSync(join(dir, `btn-node-${values.board}.img`))) {
        log(`no image in ${dir}: building it first`);
        await buildImage({ board: values.board, out: dir, ...(dev ? { keyring: dev.caCert } : {}) });
      }
      build = (await readFile(join(dir, 'build-info'), 'utf8').catch(() => '')).trim() || undefined;
      if (build) log(`bundling the image of ${dir}, built from ${build}`);
      rootfs = await rootfsFromImage(dir, values.board, X86_LAYOUT, work);
    }
    const built = await makeBundle({
      board: values.board, out: values.out, rootfs, version: values.version ?? (await packageVersion()),
      key: values.key ?? dev!.key, cert: values.cert ?? dev!.cert,
      ...(values.keyring ? { keyring: values.keyring } : dev ? { keyring: dev.caCert } : {}),
      ...(build ? { build } : {}),
      ...(values.boot ? { boot: values.boot } : {}),
    });
    log(`${built.bundle}: ${(built.bytes / 1e6).toFixed(1)} MB in ${built.seconds} s`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
