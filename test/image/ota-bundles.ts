// The bundles the OTA scenario delivers, all of the image's own root file system (slot A of the
// built disk), signed with the development key the image's keyring trusts unless said otherwise:
// v2 and v4 as built; v3 with its agent broken the way a bad release could be (the agent's unit
// has lost its TPM: a systemd drop-in written into the ext4 with debugfs, no mount, nothing in
// the product); a copy of v4 with bytes flipped after signing; v4 signed again under another CA.
import { execFile } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { X86_LAYOUT } from '../../image-build/build.ts';
import { makeSigningKeys, type SigningKeys } from '../../image-build/signing-keys.ts';
import { makeBundle, rootfsFromImage, type BuiltBundle } from '../../image-build/update-bundle.ts';

const run = promisify(execFile);

export const V1 = '0.1.0';
export const V2 = '0.2.0';
export const V3 = '0.3.0';
export const V4 = '0.4.0';

export interface OtaBundles {
  readonly v2: BuiltBundle;
  /** Its agent cannot reach the TPM, so it never becomes healthy. */
  readonly v3: BuiltBundle;
  readonly v4: BuiltBundle;
  /** v4 with bytes of its payload flipped after signing. */
  readonly tampered: string;
  /** v4 signed again with a key under another CA. */
  readonly otherKey: string;
  /** The broken agent's drop-in, as written into v3. */
  readonly breakage: string;
}

/** The drop-in that breaks v3: the agent's device list emptied, so /dev/tpmrm0 is closed to it (DevicePolicy=closed). */
const BROKEN_AGENT = '[Service]\n# A bad release: the agent no longer reaches the TPM.\nDeviceAllow=\n';
const DROP_IN_DIR = '/etc/systemd/system/btn-node.service.d';

/** Builds the v2, v3 and v4 bundles (one after the other: each mksquashfs takes both cores) and the two bad ones. */
export async function buildOtaBundles(o: { readonly imageDir: string; readonly work: string; readonly keys: SigningKeys; readonly log: (line: string) => void }): Promise<OtaBundles> {
  await mkdir(o.work, { recursive: true });
  const rootfs = await rootfsFromImage(o.imageDir, 'qemu-x86_64', X86_LAYOUT, o.work);
  const out = join(o.work, 'bundles');
  const sign = { board: 'qemu-x86_64', out, key: o.keys.key, cert: o.keys.cert, keyring: o.keys.caCert } as const;
  const v2 = await makeBundle({ ...sign, rootfs, version: V2 });
  o.log(`bundle ${V2}: ${(v2.bytes / 1e6).toFixed(1)} MB, built in ${v2.seconds} s`);

  const broken = join(o.work, 'rootfs-broken.ext4');
  await run('cp', ['--sparse=always', rootfs, broken]);
  const dropIn = join(o.work, 'no-tpm.conf');
  await writeFile(dropIn, BROKEN_AGENT, { mode: 0o644 });
  await debugfs(broken, `mkdir ${DROP_IN_DIR}`);
  await debugfs(broken, `write ${dropIn} ${DROP_IN_DIR}/no-tpm.conf`);
  const written = (await run('debugfs', ['-R', `cat ${DROP_IN_DIR}/no-tpm.conf`, broken])).stdout;
  if (written !== BROKEN_AGENT) throw new Error(`debugfs did not write the drop-in into ${broken}: ${JSON.stringify(written.slice(0, 200))}`);
  const v3 = await makeBundle({ ...sign, rootfs: broken, version: V3 });
  o.log(`bundle ${V3} (agent without its TPM): built in ${v3.seconds} s`);

  const v4 = await makeBundle({ ...sign, rootfs, version: V4 });
  o.log(`bundle ${V4}: built in ${v4.seconds} s`);

  // Flipped in the payload's first block (the squashfs superblock): RAUC's dm-verity check refuses
  // it as soon as the bundle is mounted, before anything is written to a slot.
  const tampered = join(out, `tampered-${V4}.raucb`);
  await run('cp', [v4.bundle, tampered]);
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
  const otherKey = join(out, `other-key-${V4}.raucb`);
  await run('rauc', ['resign', '--no-verify', '--cert', other.cert, '--key', other.key, v4.bundle, otherKey], { maxBuffer: 16 * 1024 * 1024 });
  return { v2, v3, v4, tampered, otherKey, breakage: BROKEN_AGENT };
}

async function debugfs(image: string, request: string): Promise<void> {
  const { stdout, stderr } = await run('debugfs', ['-w', '-R', request, image]);
  if (/error|not found|could not|cannot/i.test(stdout + stderr.replace(/^debugfs [\d.]+ \(.*\)\n?/m, ''))) throw new Error(`debugfs ${request}: ${(stdout + stderr).trim().slice(0, 400)}`);
}
