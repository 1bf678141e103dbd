// Signed update bundles (image-build/update-bundle.ts) checked by the real rauc CLI against an
// image's keyring, on a small synthetic root file system (the real one is bundled by the OTA
// test, ota.image.test.ts, and installed by a guest).
// A test CA made with openssl signs; another CA stands for somebody else's key. What rauc accepts:
// a bundle signed under the keyring's CA, with its board's compatible and its version, the
// version stamped into the slot's image. What it refuses, with its own message: a bundle without
// a signature, one signed under another CA, one with a byte of its payload or its signature
// flipped. A bundle for another board carries its own compatible string, which the device's
// install refuses (that check needs dm-verity: the QEMU guest, not this host).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compatible, raucSystemConf, VERSION_FILE } from '../../image-build/ab-slots.ts';
import { makeSigningKeys, type SigningKeys } from '../../image-build/signing-keys.ts';
import { makeBundle } from '../../image-build/update-bundle.ts';

const run = promisify(execFile);
let dir = '';
let vendor: SigningKeys;
let other: SigningKeys;
let rootfs = '';
let good = '';
let goodImageBytes = 0;

/** rauc's verdict on a bundle, as a device with the vendor's keyring would give it. */
async function raucInfo(bundle: string): Promise<{ ok: true; info: { compatible: string; version: string } } | { ok: false; message: string }> {
  try {
    const { stdout } = await run('rauc', ['info', '--keyring', vendor.caCert, '--output-format=json', bundle]);
    return { ok: true, info: JSON.parse(stdout) };
  } catch (err) {
    return { ok: false, message: String((err as { stderr?: string }).stderr ?? err) };
  }
}

async function flipByte(file: string, at: number): Promise<void> {
  const f = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await f.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await f.write(b, 0, 1, at);
  } finally {
    await f.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-update-bundle-'));
  vendor = await makeSigningKeys(join(dir, 'vendor'), 'test vendor');
  other = await makeSigningKeys(join(dir, 'other'), 'someone else');
  // A root file system of 16 MiB with incompressible content (rauc wants a payload above 4 KiB).
  await mkdir(join(dir, 'root/usr/lib/btn-node'), { recursive: true });
  await writeFile(join(dir, 'root/usr/lib/btn-node/btn-node.mjs'), randomBytes(65536));
  await writeFile(join(dir, 'root/usr/lib/btn-node/version'), '0.0.1\n');
  rootfs = join(dir, 'rootfs.ext4');
  await run('truncate', ['-s', '16M', rootfs]);
  await run('mke2fs', ['-q', '-t', 'ext4', '-d', join(dir, 'root'), rootfs]);
  const built = await makeBundle({ board: 'qemu-x86_64', out: join(dir, 'out'), rootfs, version: '1.2.3', key: vendor.key, cert: vendor.cert, keyring: vendor.caCert });
  good = built.bundle;
  goodImageBytes = built.imageBytes;
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('update bundle', () => {
  it('signed under the keyring CA: rauc accepts it and shows its board and version', async () => {
    const verdict = await raucInfo(good);
    expect(verdict).toMatchObject({ ok: true, info: { compatible: 'btn-node-qemu-x86_64', version: '1.2.3' } });
    // The image's system.conf names the same compatible: this bundle is for this image.
    expect(raucSystemConf('qemu-x86_64')).toContain(`compatible=${compatible('qemu-x86_64')}\n`);
    const { stdout } = await run('rauc', ['info', '--keyring', vendor.caCert, good]);
    expect(stdout).toMatch(/Bundle Format:\s+verity/);
  });

  it('the slot image inside is the root file system with the bundle version stamped, the original untouched', async () => {
    const out = join(dir, 'extracted');
    await run('rauc', ['extract', '--keyring', vendor.caCert, good, out]); // verifies the payload too
    const { stdout } = await run('debugfs', ['-R', `cat ${VERSION_FILE}`, join(out, 'rootfs.ext4')]);
    expect(stdout).toBe('1.2.3\n');
    const { stdout: original } = await run('debugfs', ['-R', `cat ${VERSION_FILE}`, rootfs]);
    expect(original).toBe('0.0.1\n');
    // Shrunk to what its files need (the slot's resize=true grows it once written), and sound.
    const image = join(out, 'rootfs.ext4');
    expect((await stat(image)).size).toBe(goodImageBytes);
    expect(goodImageBytes).toBeLessThan((await stat(rootfs)).size);
    await run('e2fsck', ['-f', '-n', image]); // exit 0: nothing to correct
    const agent = await run('debugfs', ['-R', 'cat /usr/lib/btn-node/btn-node.mjs', image], { encoding: 'buffer', maxBuffer: 1024 * 1024 });
    expect(agent.stdout.equals(await readFile(join(dir, 'root/usr/lib/btn-node/btn-node.mjs')))).toBe(true);
  });

  it('refuses a bundle without a signature (a squashfs of the same content, made without the key)', async () => {
    const content = join(dir, 'unsigned');
    await mkdir(content);
    await copyFile(rootfs, join(content, 'rootfs.ext4'));
    await writeFile(join(content, 'manifest.raucm'), `[update]\ncompatible=${compatible('qemu-x86_64')}\nversion=9.9.9\n\n[image.rootfs]\nfilename=rootfs.ext4\n`);
    const bundle = join(dir, 'unsigned.raucb');
    await run('mksquashfs', [content, bundle, '-quiet', '-noappend', '-all-root']);
    const verdict = await raucInfo(bundle);
    expect(verdict).toMatchObject({ ok: false, message: expect.stringContaining('Signature size is 0') });
  });

  it('refuses a bundle signed under another CA', async () => {
    const { bundle } = await makeBundle({ board: 'qemu-x86_64', out: join(dir, 'other'), rootfs, version: '1.2.4', key: other.key, cert: other.cert });
    expect(await raucInfo(bundle)).toMatchObject({ ok: false, message: expect.stringMatching(/signature verification failed.*unable to get local issuer certificate/) });
  });

  it('a bundle for another board carries that board compatible, which is not this image one', async () => {
    const { bundle } = await makeBundle({ board: 'rpi4', out: join(dir, 'rpi4'), rootfs, version: '1.2.3', key: vendor.key, cert: vendor.cert });
    const verdict = await raucInfo(bundle);
    expect(verdict).toMatchObject({ ok: true, info: { compatible: 'btn-node-rpi4' } });
    expect(raucSystemConf('qemu-x86_64')).not.toContain('compatible=btn-node-rpi4');
  });

  it('refuses a bundle with one byte of its payload flipped (checked against the signed verity hash tree)', async () => {
    const bundle = join(dir, 'tampered-payload.raucb');
    await copyFile(good, bundle);
    await flipByte(bundle, 30_000); // inside the squashfs
    // rauc info checks the signed manifest only; the payload is checked against its hash tree
    // when it is read: by extract here, by install (in userspace, and by dm-verity in the kernel).
    const err = await run('rauc', ['extract', '--keyring', vendor.caCert, bundle, join(dir, 'tampered-out')]).then(() => undefined, (e: { stderr: string }) => e.stderr);
    expect(err).toContain('bundle payload is corrupted');
  });

  it('refuses a bundle whose signed manifest was edited (one byte of its version) or whose signature lost a bit', async () => {
    const bytes = await readFile(good);
    const manifestAt = bytes.lastIndexOf('version=1.2.3'); // the manifest travels inside the CMS signature
    expect(manifestAt).toBeGreaterThan(0);
    const edited = join(dir, 'tampered-manifest.raucb');
    await copyFile(good, edited);
    await flipByte(edited, manifestAt + 'version=1.2.'.length);
    expect(await raucInfo(edited)).toMatchObject({ ok: false, message: expect.stringContaining('signature verification failed') });
    const bit = join(dir, 'tampered-signature.raucb');
    await copyFile(good, bit);
    await flipByte(bit, bytes.length - 8 - 5); // in the signature value, before the 8-byte size at the end
    expect(await raucInfo(bit)).toMatchObject({ ok: false, message: expect.stringContaining('signature verification failed') });
  });

  it('refuses a version that is not semantic and a board name that is not a board', async () => {
    await expect(makeBundle({ board: 'qemu-x86_64', out: dir, rootfs, version: '1.2; rm -rf /', key: vendor.key, cert: vendor.cert })).rejects.toThrow(/version must be semantic/);
    await expect(makeBundle({ board: '../etc', out: dir, rootfs, version: '1.2.3', key: vendor.key, cert: vendor.cert })).rejects.toThrow(/board name/);
  });
});
