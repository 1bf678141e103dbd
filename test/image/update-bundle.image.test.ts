// The update bundle of the real root file system (`npm run test:image`): slot A of the image
// `npm run image` built (BTN_IMAGE_DIR, or image-build/out, built there when there is none), signed
// with the development key, is accepted by rauc under the keyring that image carries, names its
// board and version, and its slot image is that root file system with the version stamped.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { KEYRING_PATH, VERSION_FILE } from '../../image-build/ab-slots.ts';
import { X86_LAYOUT } from '../../image-build/build.ts';
import { devSigningKeys } from '../../image-build/signing-keys.ts';
import { makeBundle, rootfsFromImage } from '../../image-build/update-bundle.ts';
import { builtImageDir } from './ab-disk.ts';

const run = promisify(execFile);
let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('update bundle of the qemu-x86_64 image', () => {
  it('is accepted under the image own keyring, for its board, with its version in the slot', { timeout: 1_200_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-bundle-image-'));
    const keys = await devSigningKeys(() => undefined);
    const dir = await builtImageDir(keys.caCert);
    const rootfs = await rootfsFromImage(dir, 'qemu-x86_64', X86_LAYOUT, work);
    // The keyring the device checks with: the one in its root file system.
    const keyring = join(work, 'keyring.pem');
    const { stdout: pem } = await run('debugfs', ['-R', `cat ${KEYRING_PATH}`, rootfs]);
    await writeFile(keyring, pem);

    const built = await makeBundle({ board: 'qemu-x86_64', out: join(work, 'out'), rootfs, version: '0.2.0', key: keys.key, cert: keys.cert });
    console.log(`bundle of the real root file system: ${(built.bytes / 1e6).toFixed(1)} MB, built in ${built.seconds} s`);
    const { stdout } = await run('rauc', ['info', '--keyring', keyring, '--output-format=json', built.bundle]);
    expect(JSON.parse(stdout)).toMatchObject({ compatible: 'btn-node-qemu-x86_64', version: '0.2.0' });

    const extracted = join(work, 'extracted');
    await run('rauc', ['extract', '--keyring', keyring, built.bundle, extracted], { maxBuffer: 16 * 1024 * 1024 });
    const slot = join(extracted, 'rootfs.ext4');
    expect((await run('debugfs', ['-R', `cat ${VERSION_FILE}`, slot])).stdout).toBe('0.2.0\n');
    expect((await run('debugfs', ['-R', 'cat /etc/rauc/system.conf', slot])).stdout).toContain('compatible=btn-node-qemu-x86_64\n');
    await run('e2fsck', ['-n', '-f', slot]); // the slot's file system is whole
  });
});
