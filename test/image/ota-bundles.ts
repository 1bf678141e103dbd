// The bundles the OTA scenario delivers, signed with the development key the image's keyring
// trusts unless said otherwise. v2 is the image's own root file system (slot A of the built disk)
// as built; v3 the same with its agent broken the way a bad release could be (the agent's unit has
// lost its TPM: a systemd drop-in written into the ext4 with debugfs, no mount, nothing in the
// product). The two RAUC must refuse are small (a 16 MiB root file system, version 0.4.0): what
// is refused is their signature or their bytes, not their size, and the guest need not download
// two more root file systems for it: one with bytes flipped after signing, one signed under
// another CA.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KEYRING_PATH } from '../../image-build/ab-slots.ts';
import { X86_LAYOUT } from '../../image-build/build.ts';
import { extractPartition, partitions } from '../../image-build/disk.ts';
import { makeSigningKeys, type SigningKeys } from '../../image-build/signing-keys.ts';
import { makeBundle, rootfsFromImage, type BuiltBundle } from '../../image-build/update-bundle.ts';

const run = promisify(execFile);

export const V1 = '0.1.0';
export const V2 = '0.2.0';
export const V3 = '0.3.0';
export const V4 = '0.4.0';

export interface BadBundles {
  /** Its agent cannot reach the TPM, so it never becomes healthy. */
  readonly v3: BuiltBundle;
  /** A v4 with bytes of its payload flipped after signing. */
  readonly tampered: string;
  /** A v4 signed with a key under another CA. */
  readonly otherKey: string;
}

interface BuildOptions {
  readonly imageDir: string;
  readonly work: string;
  readonly keys: SigningKeys;
  readonly log: (line: string) => void;
}

/** The drop-in that breaks v3: the agent's device list emptied, so /dev/tpmrm0 is closed to it (DevicePolicy=closed). */
const BROKEN_AGENT = '[Service]\n# A bad release: the agent no longer reaches the TPM.\nDeviceAllow=\n';
const DROP_IN_DIR = '/etc/systemd/system/btn-node.service.d';

const signWith = (o: BuildOptions): { board: string; out: string; key: string; cert: string; keyring: string } =>
  ({ board: 'qemu-x86_64', out: join(o.work, 'bundles'), key: o.keys.key, cert: o.keys.cert, keyring: o.keys.caCert });

/**
 * For the test's eyes only: journald copies the guest's journal to the serial console, so a
 * failure's console shows what the health check, RAUC and the agent said (the image keeps its
 * journal in memory, and a restart or a power cut loses it).
 */
const JOURNAL_TO_CONSOLE = '[Journal]\nForwardToConsole=yes\nTTYPath=/dev/ttyS0\nMaxLevelConsole=info\n';

/** Writes the journal-to-console drop-in into a root file system image. */
export async function journalToConsole(rootfs: string, work: string): Promise<void> {
  const file = join(work, 'journal-to-console.conf');
  await writeFile(file, JOURNAL_TO_CONSOLE, { mode: 0o644 });
  await debugfs(rootfs, 'mkdir /etc/systemd/journald.conf.d');
  await debugfs(rootfs, `write ${file} /etc/systemd/journald.conf.d/zz-console.conf`);
}

/** The same in slot A of a disk (the v1 the guest boots first). */
export async function journalToConsoleOnDisk(disk: string, work: string): Promise<void> {
  const slot = partitions(X86_LAYOUT).root;
  const copy = join(work, 'slot-a.ext4');
  await extractPartition(disk, slot, copy);
  await journalToConsole(copy, work);
  await run('dd', [`if=${copy}`, `of=${disk}`, 'bs=1M', 'oflag=seek_bytes', `seek=${slot.startBytes}`, 'conv=notrunc', 'status=none']);
  await rm(copy);
}

/**
 * The image must trust the CA the test signs with: an image built from another checkout (another
 * image-build/out/dev-keys) would refuse every bundle, which is no finding about updates.
 */
export async function assertImageTrusts(imageDir: string, caCert: string, work: string): Promise<void> {
  const slot = join(work, 'keyring-check.ext4');
  await extractPartition(join(imageDir, 'btn-node-qemu-x86_64.img'), partitions(X86_LAYOUT).root, slot);
  try {
    const keyring = (await run('debugfs', ['-R', `cat ${KEYRING_PATH}`, slot], { maxBuffer: 1024 * 1024 })).stdout;
    if (keyring.trim() !== (await readFile(caCert, 'utf8')).trim()) throw new Error(`the image in ${imageDir} trusts another update CA than ${caCert}: rebuild it (npm run image) or set BTN_IMAGE_DIR to one built with these keys`);
  } finally {
    await rm(slot, { force: true });
  }
}

/** v2: the image's root file system (left in work as rootfs.ext4 for the bad bundles). */
export async function buildV2(o: BuildOptions): Promise<{ readonly v2: BuiltBundle; readonly rootfs: string }> {
  await mkdir(o.work, { recursive: true });
  const rootfs = await rootfsFromImage(o.imageDir, 'qemu-x86_64', X86_LAYOUT, o.work);
  await journalToConsole(rootfs, o.work);
  const v2 = await makeBundle({ ...signWith(o), rootfs, version: V2 });
  o.log(`bundle ${V2}: ${(v2.bytes / 1e6).toFixed(1)} MB holding a ${(v2.imageBytes / 1e6).toFixed(1)} MB slot image, built in ${v2.seconds} s`);
  return { v2, rootfs };
}

/** v3 from that root file system (consumed), and the two small ones RAUC refuses. */
export async function buildBadBundles(o: BuildOptions, rootfs: string): Promise<BadBundles> {
  const sign = signWith(o);
  const broken = rootfs;
  const dropIn = join(o.work, 'no-tpm.conf');
  await writeFile(dropIn, BROKEN_AGENT, { mode: 0o644 });
  await debugfs(broken, `mkdir ${DROP_IN_DIR}`);
  await debugfs(broken, `write ${dropIn} ${DROP_IN_DIR}/no-tpm.conf`);
  const written = (await run('debugfs', ['-R', `cat ${DROP_IN_DIR}/no-tpm.conf`, broken])).stdout;
  if (written !== BROKEN_AGENT) throw new Error(`debugfs did not write the drop-in into ${broken}: ${JSON.stringify(written.slice(0, 200))}`);
  const v3 = await makeBundle({ ...sign, rootfs: broken, version: V3 });
  await rm(broken);
  o.log(`bundle ${V3} (agent without its TPM): built in ${v3.seconds} s`);

  // A small root file system of incompressible bytes (rauc wants a payload above 4 KiB).
  const small = join(o.work, 'small');
  await mkdir(join(small, 'usr/lib/btn-node'), { recursive: true });
  await writeFile(join(small, 'usr/lib/btn-node/btn-node.mjs'), randomBytes(65536));
  const smallFs = join(o.work, 'small.ext4');
  await run('truncate', ['-s', '16M', smallFs]);
  await run('mke2fs', ['-q', '-t', 'ext4', '-d', small, smallFs]);

  // Flipped in the payload's first block (the squashfs superblock): RAUC's dm-verity check refuses
  // it as soon as the bundle is mounted, before anything is written to a slot.
  const genuine = await makeBundle({ ...sign, out: join(o.work, 'small-out'), rootfs: smallFs, version: V4 });
  const tampered = join(sign.out, `tampered-${V4}.raucb`);
  await run('cp', [genuine.bundle, tampered]);
  const fh = await open(tampered, 'r+');
  try {
    const b = Buffer.alloc(16);
    await fh.read(b, 0, 16, 96);
    for (let i = 0; i < b.length; i++) b[i] = b[i]! ^ 0xff;
    await fh.write(b, 0, 16, 96);
  } finally {
    await fh.close();
  }

  const other = await makeSigningKeys(join(o.work, 'other-ca'), 'someone else');
  const foreign = await makeBundle({ board: 'qemu-x86_64', out: join(o.work, 'other-out'), rootfs: smallFs, version: V4, key: other.key, cert: other.cert, keyring: other.caCert });
  const otherKey = join(sign.out, `other-key-${V4}.raucb`);
  await run('cp', [foreign.bundle, otherKey]);
  return { v3, tampered, otherKey };
}

async function debugfs(image: string, request: string): Promise<void> {
  const { stdout, stderr } = await run('debugfs', ['-w', '-R', request, image]);
  if (/error|not found|could not|cannot/i.test(stdout + stderr.replace(/^debugfs [\d.]+ \(.*\)\n?/m, ''))) throw new Error(`debugfs ${request}: ${(stdout + stderr).trim().slice(0, 400)}`);
}
