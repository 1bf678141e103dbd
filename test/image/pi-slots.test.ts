// The Pi's A/B disk and RAUC config, on this host. The disk: makePiDisk of small fake trees,
// read back with sfdisk and mtools. RAUC: the real `rauc service` (Debian's 1.8) with the image's
// system.conf (bootloader=custom) on a private session bus, the slots as files, and the custom
// backend (rauc-tryboot-backend.sh) pointed at a config-partition directory: RAUC reads its
// slots' states through the backend, an install's activation arms a trial, mark-good on the
// trial commits it in autoboot.txt, mark-bad leaves the old default in place.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSigningKeys } from '../../image-build/signing-keys.ts';
import { makeBundle } from '../../image-build/update-bundle.ts';
import { dataFstab } from '../../image-build/ab-slots.ts';
import { boardConfigPath, loadBoardConfig } from '../../firmware/board/index.ts';
import { installPiSlots } from '../../image-build/pi/pi-ab-rootfs.ts';
import { PI_POST_INSTALL_SOURCE } from '../../image-build/pi/pi-slots.ts';
import { makePiDisk, piPartitions, type PiDiskLayout } from '../../image-build/pi/pi-disk.ts';
import { autobootTxt, piPartUuid, piRaucSystemConf, PI_POST_INSTALL_PATH, slotCmdlineWords, TRYBOOT_BACKEND_PATH, TRYBOOT_BACKEND_SOURCE, type PiSlot } from '../../image-build/pi/pi-slots.ts';
import { until } from '../until.ts';

const run = promisify(execFile);
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-pi-slots-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the Pi disk', () => {
  const layout: PiDiskLayout = { configMiB: 40, bootMiB: 48, rootMiB: 64, dataMiB: 40 };

  it('has config, boot A, boot B, an extended partition holding root A, root B and data, by the fixed disk id', async () => {
    const trees = Object.fromEntries(await Promise.all(['config', 'boot', 'empty', 'root', 'data'].map(async (t) => {
      await mkdir(join(dir, t), { recursive: true });
      return [t, join(dir, t)] as const;
    })));
    await writeFile(join(trees['config']!, 'autoboot.txt'), autobootTxt('A'));
    await writeFile(join(trees['config']!, 'btn-node.txt'), 'BROKER=mqtts://broker:8883\n');
    await writeFile(join(trees['boot']!, 'cmdline.txt'), `console=tty0 ${slotCmdlineWords('A').join(' ')} rootwait\n`);
    await mkdir(join(trees['root']!, 'etc'));
    await writeFile(join(trees['root']!, 'etc/hostname'), 'btn-node\n');
    const disk = join(dir, 'pi.img');
    const p = await makePiDisk({ out: disk, layout, configDir: trees['config']!, bootDir: trees['boot']!, emptyDir: trees['empty']!, rootDir: trees['root']!, dataDir: trees['data']! });
    expect(p).toEqual(piPartitions(layout));

    const table = (JSON.parse((await run('sfdisk', ['--json', disk])).stdout) as { partitiontable: { label: string; id: string; partitions: { node: string; start: number; size: number; type: string; bootable?: boolean }[] } }).partitiontable;
    expect(table.label).toBe('dos');
    expect(table.id).toBe(`0x${piPartUuid(1).slice(0, 8)}`);
    const parts = table.partitions.map((x) => ({ n: Number(/(\d+)$/.exec(x.node)![1]), start: x.start * 512, size: x.size * 512, type: x.type, bootable: x.bootable === true }));
    expect(parts).toEqual([
      { n: 1, start: p.config.startBytes, size: p.config.sizeBytes, type: 'c', bootable: true },
      { n: 2, start: p.bootA.startBytes, size: p.bootA.sizeBytes, type: 'c', bootable: false },
      { n: 3, start: p.bootB.startBytes, size: p.bootB.sizeBytes, type: 'c', bootable: false },
      { n: 4, start: p.extended.startBytes, size: p.extended.sizeBytes, type: '5', bootable: false },
      { n: 5, start: p.rootA.startBytes, size: p.rootA.sizeBytes, type: '83', bootable: false },
      { n: 6, start: p.rootB.startBytes, size: p.rootB.sizeBytes, type: '83', bootable: false },
      { n: 7, start: p.data.startBytes, size: p.data.sizeBytes, type: '83', bootable: false },
    ]);

    const mtype = async (offset: number, file: string): Promise<string> => (await run('mtype', ['-i', `${disk}@@${offset}`, `::/${file}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } })).stdout;
    expect(await mtype(p.config.startBytes, 'autoboot.txt')).toBe(autobootTxt('A'));
    expect(await mtype(p.bootA.startBytes, 'cmdline.txt')).toContain('root=PARTUUID=62746e31-05 rauc.slot=A');
    const label = async (offset: number): Promise<string> => (await run('mlabel', ['-s', '-i', `${disk}@@${offset}`, '::'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } })).stdout;
    expect(await label(p.config.startBytes)).toContain('BTNBOOT');
    expect(await label(p.bootB.startBytes)).toContain('BTNBOOTB');
    const rootA = join(dir, 'rootA.ext4');
    await run('dd', [`if=${disk}`, `of=${rootA}`, 'bs=1M', 'iflag=skip_bytes,count_bytes', `skip=${p.rootA.startBytes}`, `count=${p.rootA.sizeBytes}`, 'status=none']);
    expect((await run('debugfs', ['-R', 'cat /etc/hostname', rootA])).stdout).toBe('btn-node\n');
  });

  it('refuses a layout with a partition too small for FAT32', () => {
    expect(() => piPartitions({ ...layout, bootMiB: 16 })).toThrow(/bootMiB must be a whole number of MiB in 33\.\.65536/);
  });
});

describe('RAUC with the Pi config and the tryboot backend', () => {
  let bus: ChildProcess | undefined;
  let service: ChildProcess | null = null;
  let env: NodeJS.ProcessEnv = {};
  let conf = '';
  const boot = (): string => join(dir, 'rauc/boot');
  const rauc = async (...args: string[]): Promise<string> => (await run('rauc', args, { env })).stdout;

  async function startService(slot: PiSlot): Promise<void> {
    // A boot of `slot`: its command line, a fresh /run.
    await writeFile(join(dir, 'rauc/cmdline'), `console=tty0 ${slotCmdlineWords(slot).join(' ')} rootwait\n`);
    await rm(join(dir, 'rauc/run'), { recursive: true, force: true });
    service = spawn('rauc', ['service', `--conf=${conf}`, `--override-boot-slot=${slot}`], { env, stdio: 'ignore' });
    await until('the rauc service', () => rauc('status').then(() => true, () => false), 15_000, 200);
  }
  async function stopService(): Promise<void> {
    const s = service as ChildProcess | null;
    if (s === null || s.exitCode !== null || s.signalCode !== null) return;
    const gone = new Promise((r) => s.once('exit', r));
    s.kill('SIGTERM');
    await gone;
  }
  const status = async (): Promise<{ compatible: string; booted: string; boot_primary: string; slots: Record<string, { bootname?: string; boot_status?: string; parent?: string }> }> => {
    const s = JSON.parse(await rauc('status', '--output-format=json')) as { compatible: string; booted: string; boot_primary: string; slots: Record<string, object>[] };
    return { ...s, slots: Object.assign({}, ...s.slots) as Record<string, { bootname?: string; boot_status?: string; parent?: string }> };
  };

  beforeAll(async () => {
    const r = join(dir, 'rauc');
    await mkdir(boot(), { recursive: true });
    await mkdir(join(r, 'data'));
    await writeFile(join(boot(), 'autoboot.txt'), autobootTxt('A'));
    await writeFile(join(r, 'vcio'), '');
    for (const f of ['boot0', 'boot1', 'root0', 'root1']) await run('truncate', ['-s', '8M', join(r, f)]);
    const keys = await makeSigningKeys(join(r, 'keys'), 'test vendor');
    conf = join(r, 'system.conf');
    let text = piRaucSystemConf('rpi4')
      .replace(TRYBOOT_BACKEND_PATH, TRYBOOT_BACKEND_SOURCE)
      .replace(`post-install=${PI_POST_INSTALL_PATH}`, `post-install=${join(r, 'no-post-install')}`)
      .replace('/data/rauc', join(r, 'data'))
      .replace('/etc/rauc/keyring.pem', keys.caCert);
    for (const [part, file] of [[2, 'boot0'], [3, 'boot1'], [5, 'root0'], [6, 'root1']] as const) text = text.replace(`/dev/disk/by-partuuid/${piPartUuid(part)}`, join(r, file));
    await writeFile(conf, text);

    bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let address = '';
    bus.stdout!.on('data', (d: Buffer) => { address += d.toString(); });
    await until('the session bus address', () => address.includes('\n'), 10_000);
    env = {
      ...process.env, DBUS_SESSION_BUS_ADDRESS: address.trim(), DBUS_STARTER_BUS_TYPE: 'session',
      // The service passes its environment to the backend it runs.
      BTN_TRYBOOT_DIR: boot(), BTN_TRYBOOT_CMDLINE: join(r, 'cmdline'), BTN_TRYBOOT_REBOOT_PARAM: join(r, 'run/reboot-param'), BTN_TRYBOOT_VCIO: join(r, 'vcio'),
    };
    await startService('A');
  });
  afterAll(async () => {
    await stopService();
    bus?.kill('SIGTERM');
  });

  it('reads the config: compatible btn-node-rpi4, A booted, primary and good, B bad, boot slots under their root slots', async () => {
    const s = await status();
    expect(s.compatible).toBe('btn-node-rpi4');
    expect(s.booted).toBe('A');
    expect(s.boot_primary).toBe('rootfs.0');
    expect(s.slots['rootfs.0']).toMatchObject({ bootname: 'A', boot_status: 'good' });
    expect(s.slots['rootfs.1']).toMatchObject({ bootname: 'B', boot_status: 'bad' });
    expect(s.slots['boot.0']).toMatchObject({ parent: 'rootfs.0' });
    expect(s.slots['boot.1']).toMatchObject({ parent: 'rootfs.1' });
  });

  it('activating B arms a trial; after the trial boot, mark-good booted commits B in autoboot.txt', async () => {
    await rauc('status', 'mark-active', 'other');
    expect(await readFile(join(dir, 'rauc/run/reboot-param'), 'utf8')).toBe('0 tryboot');
    expect(await readFile(join(boot(), 'autoboot.txt'), 'utf8')).toBe(autobootTxt('A'));
    expect((await status()).boot_primary).toBe('rootfs.1');

    await stopService();
    await startService('B'); // the firmware took [tryboot]'s partition
    expect((await status()).boot_primary).toBe('rootfs.0'); // not committed: a plain reboot goes back to A
    await rauc('status', 'mark-good', 'booted');
    expect(await readFile(join(boot(), 'autoboot.txt'), 'utf8')).toBe(autobootTxt('B'));
    const s = await status();
    expect(s.boot_primary).toBe('rootfs.1');
    expect(s.slots['rootfs.1']).toMatchObject({ boot_status: 'good' });
  });

  it('a trial marked bad is reported bad and leaves the committed slot the default', async () => {
    await rauc('status', 'mark-active', 'other'); // B is committed now; try A
    await stopService();
    await startService('A');
    await rauc('status', 'mark-bad', 'booted');
    expect(await readFile(join(boot(), 'autoboot.txt'), 'utf8')).toBe(autobootTxt('B'));
    const s = await status();
    expect(s.boot_primary).toBe('rootfs.1');
    expect(s.slots['rootfs.0']).toMatchObject({ boot_status: 'bad' });
  });
});

describe('the Pi update bundle', () => {
  it('carries the root file system and the boot slot for btn-node-rpi4, signed', async () => {
    const w = join(dir, 'bundle');
    await mkdir(join(w, 'tree/usr/lib/btn-node'), { recursive: true });
    await writeFile(join(w, 'tree/usr/lib/btn-node/payload'), randomBytes(64 * 1024)); // squashfs refuses an image of one block
    await run('mke2fs', ['-q', '-t', 'ext4', '-d', join(w, 'tree'), join(w, 'rootfs.ext4'), '16M']);
    await run('mkfs.vfat', ['-C', '-F', '32', join(w, 'boot.vfat'), String(34 * 1024)]);
    const keys = await makeSigningKeys(join(w, 'keys'), 'test vendor');
    const built = await makeBundle({ board: 'rpi4', out: w, rootfs: join(w, 'rootfs.ext4'), boot: join(w, 'boot.vfat'), version: '0.2.0', key: keys.key, cert: keys.cert, keyring: keys.caCert });
    const info = JSON.parse((await run('rauc', ['info', `--keyring=${keys.caCert}`, '--output-format=json', built.bundle])).stdout) as { compatible: string; version: string; images: Record<string, { filename: string }>[] };
    expect(info).toMatchObject({ compatible: 'btn-node-rpi4', version: '0.2.0' });
    const images = Object.assign({}, ...info.images) as Record<string, { filename: string }>;
    expect(images['rootfs']).toMatchObject({ filename: 'rootfs.ext4' });
    expect(images['boot']).toMatchObject({ filename: 'boot.vfat' });
  });
});

describe('the root file system\'s part', () => {
  it('installs the Pi system.conf, both handlers executable, the keyring, fstab with data on partition 7, the version', async () => {
    const rootfs = join(dir, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc/fstab'), `LABEL=BTNBOOT /boot/firmware vfat defaults,nofail 0 0\n${dataFstab()}`); // as installAgent writes it
    const keys = await makeSigningKeys(join(dir, 'rootfs-keys'), 'test vendor');
    await installPiSlots(rootfs, await loadBoardConfig(boardConfigPath('rpi4')), { keyring: keys.caCert, version: '0.3.0' });
    expect(await readFile(join(rootfs, 'etc/rauc/system.conf'), 'utf8')).toBe(piRaucSystemConf('rpi4'));
    expect(await readFile(join(rootfs, 'etc/rauc/keyring.pem'), 'utf8')).toBe(await readFile(keys.caCert, 'utf8'));
    for (const [path, source] of [[TRYBOOT_BACKEND_PATH, TRYBOOT_BACKEND_SOURCE], [PI_POST_INSTALL_PATH, PI_POST_INSTALL_SOURCE]] as const) {
      expect((await stat(join(rootfs, path))).mode & 0o777).toBe(0o755);
      expect(await readFile(join(rootfs, path), 'utf8')).toBe(await readFile(source, 'utf8'));
    }
    const fstab = await readFile(join(rootfs, 'etc/fstab'), 'utf8');
    expect(fstab).toContain('PARTUUID=62746e31-07 /data ext4 ');
    expect(fstab).not.toContain('62746e31-04');
    expect(fstab).toContain('/data/btn-node /var/lib/btn-node none bind');
    expect(await readFile(join(rootfs, 'usr/lib/btn-node/version'), 'utf8')).toBe('0.3.0\n');
    expect(await readFile(join(rootfs, 'etc/apt/preferences.d/btn-node-ab-slots'), 'utf8')).toContain('Pin-Priority: -1');
  });
});
