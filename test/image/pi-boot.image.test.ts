// The Raspberry Pi 4 image's arm64 system booted under QEMU (`-M virt`, its own Debian kernel
// and initrd from boot slot A; QEMU's raspi machines have no TPM and Debian 12's QEMU no
// raspi4b). It shows what can be shown without the board: the image boots, its set-up reads
// btn-node.txt and the clerks' keys from the FAT config partition, btn-node.service runs the arm64
// bundle (Node 18, koffi's arm64 part, libtss2) as btn-node, and the household's status page on
// the LAN says the TPM is missing and what to check. The SLB9670 itself needs the board.
// The image takes about 16 min to build, so this runs only when BTN_PI_IMAGE names one:
//   npm run image -- --board rpi4 --out /tmp/rpi4
//   BTN_PI_IMAGE=/tmp/rpi4/btn-node-rpi4.img npm run test:image -- test/image/pi-boot.image.test.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { freePort } from '../net.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { piPartitions, type PiDiskLayout, type PiPartitions } from '../../image-build/pi/pi-disk.ts';
import { until } from '../until.ts';

const run = promisify(execFile);
const IMAGE = process.env['BTN_PI_IMAGE'];
const children: ChildProcess[] = [];
let work = '';
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (work) await rm(work, { recursive: true, force: true });
});


/** The image's A/B partitions, read back from its partition table (sfdisk). */
async function partitionsOf(disk: string): Promise<PiPartitions> {
  const { stdout } = await run('sfdisk', ['--json', disk]);
  const [config, boot, , , root, , data] = JSON.parse(stdout).partitiontable.partitions as { size: number }[];
  const mib = (x: { size: number } | undefined): number => (x!.size * 512) / 2 ** 20;
  const layout: PiDiskLayout = { configMiB: mib(config), bootMiB: mib(boot), rootMiB: mib(root), dataMiB: mib(data) };
  const p = piPartitions(layout);
  expect(p.config.startBytes).toBe(2 ** 20);
  return p;
}

describe.skipIf(IMAGE === undefined)('rpi4 image (BTN_PI_IMAGE) under qemu-system-aarch64 -M virt', () => {
  it('boots slot A; the agent runs as btn-node from the config partition\'s btn-node.txt and its LAN page names the missing TPM', { timeout: 900_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-pi-boot-'));
    const disk = join(work, 'disk.img');
    await copyFile(IMAGE!, disk);
    const p = await partitionsOf(disk);
    const mt = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };
    const at = `${disk}@@${p.bootA.startBytes}`;
    const { stdout: listing } = await run('mdir', ['-b', '-i', at, '::/'], mt);
    const kernel = /vmlinuz-[\w.+-]+/.exec(listing)?.[0];
    const initrd = /initrd\.img-[\w.+-]+/.exec(listing)?.[0];
    expect(kernel && initrd).toBeTruthy();
    for (const f of [kernel!, initrd!]) await run('mcopy', ['-i', at, `::/${f}`, join(work, f)], mt);

    // The household's edit: a broker and the clerks' keys (no root: activation is not the point here).
    const files: Record<string, string> = {
      'btn-node.txt': 'BROKER_URL=mqtt://10.0.2.2:1\nBOARD=rpi4\n',
      'btn-node-primaries.pem': generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string,
    };
    for (const [name, text] of Object.entries(files)) {
      await writeFile(join(work, name), text);
      await run('mcopy', ['-o', '-i', `${disk}@@${p.config.startBytes}`, join(work, name), `::/${name}`], mt);
    }

    const port = await freePort();
    const console_ = join(work, 'console.log');
    children.push(spawn('qemu-system-aarch64', [
      '-M', 'virt', '-cpu', 'cortex-a72', '-m', '1024', '-smp', '2', '-accel', 'tcg',
      '-kernel', join(work, kernel!), '-initrd', join(work, initrd!), '-append', 'root=PARTUUID=62746e31-05 rauc.slot=A rw console=ttyAMA0',
      '-drive', `file=${disk},format=raw,if=virtio`,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:80`, '-device', 'virtio-net-pci,netdev=n0',
      '-display', 'none', '-monitor', 'none', '-serial', `file:${console_}`,
    ], { stdio: 'ignore' }));

    try {
      const status = await until('the status page of the guest', async () => {
        const log = await readFile(console_, 'latin1').catch(() => '');
        const stuck = /Kernel panic|emergency mode/.exec(log);
        if (stuck) throw new Error(`the guest's boot stopped: "${stuck[0]}"`);
        const r = await fetch(`http://127.0.0.1:${port}/status.json`, { signal: AbortSignal.timeout(3000) }).catch(() => null);
        const s = r?.ok ? (await r.json()) as Record<string, any> : null;
        return s?.faults?.some((f: { key: string }) => f.key.startsWith('TPM at')) ? s : undefined;
      }, 600_000, 2000);
      expect(status['user']).toBe('btn-node');
      expect(status['board']).toBe('rpi4');
      const fault = status['faults'].find((f: { key: string }) => f.key.startsWith('TPM at'));
      expect(fault.message).toContain('/dev/tpmrm0 does not exist (ENOENT)');
      expect(fault.message).toContain('dtoverlay=tpm-slb9670');
    } catch (err) {
      const log = await readFile(console_, 'utf8').catch(() => '');
      throw new Error(`${(err as Error).message}\n--- guest console (tail) ---\n${log.slice(-3000)}`);
    }
  });
});
