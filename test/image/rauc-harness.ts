// The image's RAUC config under the real `rauc service` on this host: a private D-Bus session bus,
// the root slots as files instead of the disk's partitions, the grubenv as a file instead of the
// one on the FAT, RAUC's data directory in a temp directory. The booted slot is what rauc.slot=
// on the kernel's command line would say; restartService(slot) stands for a reboot into it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { raucSystemConf, writeInitialGrubenv } from '../../image-build/ab-slots.ts';
import { partUuid } from '../../image-build/disk.ts';
import { makeSigningKeys, type SigningKeys } from '../../image-build/signing-keys.ts';
import { until } from '../until.ts';

const run = promisify(execFile);

export interface RaucHarness {
  readonly dir: string;
  readonly conf: string;
  readonly grubenv: string;
  readonly keys: SigningKeys;
  /** The environment under which rauc's CLI reaches this service. */
  readonly env: NodeJS.ProcessEnv;
  rauc(...args: string[]): Promise<string>;
  grubVars(): Promise<Record<string, string>>;
  /** Stops the service and starts it again with `slot` booted: a reboot, as far as RAUC can tell. */
  restartService(slot: 'A' | 'B'): Promise<void>;
  close(): Promise<void>;
}

export async function startRaucHarness(dir: string, bootSlot: 'A' | 'B' = 'A'): Promise<RaucHarness> {
  const keys = await makeSigningKeys(join(dir, 'keys'), 'test vendor');
  const grubenv = join(dir, 'grubenv');
  await writeInitialGrubenv(grubenv);
  for (const f of ['a.img', 'b.img']) await run('truncate', ['-s', '8M', join(dir, f)]);
  await mkdir(join(dir, 'data'));
  const conf = join(dir, 'system.conf');
  await writeFile(conf, raucSystemConf('qemu-x86_64')
    .replace(`/dev/disk/by-partuuid/${partUuid(2)}`, join(dir, 'a.img'))
    .replace(`/dev/disk/by-partuuid/${partUuid(3)}`, join(dir, 'b.img'))
    .replace('/boot/firmware/grubenv', grubenv)
    .replace('/data/rauc', join(dir, 'data'))
    .replace('/etc/rauc/keyring.pem', keys.caCert));

  const bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let address = '';
  bus.stdout!.on('data', (d: Buffer) => { address += d.toString(); });
  await until('the session bus address', () => address.includes('\n'), 10_000);
  // DBUS_STARTER_BUS_TYPE=session: the rauc service and CLI use the session bus instead of the system's.
  const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: address.trim(), DBUS_STARTER_BUS_TYPE: 'session' };
  const rauc = async (...args: string[]): Promise<string> => (await run('rauc', args, { env })).stdout;
  let service: ChildProcess | null = null;
  const startService = async (slot: 'A' | 'B'): Promise<void> => {
    service = spawn('rauc', ['service', `--conf=${conf}`, `--override-boot-slot=${slot}`], { env, stdio: 'ignore' });
    await until('the rauc service', () => rauc('status').then(() => true, () => false), 15_000, 200);
  };
  const stopService = async (): Promise<void> => {
    const s = service as ChildProcess | null;
    if (s === null || s.exitCode !== null || s.signalCode !== null) return;
    const gone = new Promise((r) => s.once('exit', r));
    s.kill('SIGTERM');
    await gone;
  };
  await startService(bootSlot);
  return {
    dir, conf, grubenv, keys, env, rauc,
    async grubVars() {
      const { stdout } = await run('grub-editenv', [grubenv, 'list']);
      return Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    },
    async restartService(slot) {
      await stopService();
      await startService(slot);
    },
    async close() {
      await stopService();
      bus.kill('SIGTERM');
    },
  };
}
