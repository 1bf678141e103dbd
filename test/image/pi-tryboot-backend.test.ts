// The Pi's RAUC custom backend (image-build/pi/rauc-tryboot-backend.sh) run by dash against a
// directory shaped like the config partition (autoboot.txt), with the kernel command line, the
// reboot parameter file and the Raspberry Pi kernel's /dev/vcio as files. What the firmware does
// with autoboot.txt and the tryboot flag is stood in for by firmwareBoots() below, from the
// Raspberry Pi documentation (autoboot.txt, tryboot_a_b): only a Pi can show the real one.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { piCmdline } from '../../image-build/pi/dtb.ts';
import { autobootTxt, PI_POST_INSTALL_SOURCE, slotCmdlineWords, TRYBOOT_BACKEND_SOURCE, type PiSlot } from '../../image-build/pi/pi-slots.ts';

const run = promisify(execFile);
let dir = '';
let env: NodeJS.ProcessEnv = {};

interface Result { readonly code: number; readonly stdout: string; readonly stderr: string }

async function backend(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run('dash', [TRYBOOT_BACKEND_SOURCE, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function ok(...args: string[]): Promise<string> {
  const r = await backend(...args);
  expect(r, `${args.join(' ')}: ${r.stderr}`).toMatchObject({ code: 0, stderr: '' });
  return r.stdout.trim();
}

const boot = (): string => join(dir, 'boot');
const autoboot = (): Promise<string> => readFile(join(boot(), 'autoboot.txt'), 'utf8');
const armed = (): Promise<string | null> => readFile(join(dir, 'run/reboot-param'), 'utf8').catch(() => null);

/** The kernel command line of a boot of `slot`, as its boot partition's cmdline.txt gives it. */
async function bootInto(slot: PiSlot): Promise<void> {
  await writeFile(join(dir, 'cmdline'), `console=tty0 ${slotCmdlineWords(slot).join(' ')} rootfstype=ext4 rootwait\n`);
  await rm(join(dir, 'run'), { recursive: true, force: true }); // /run is a tmpfs: gone at every boot
}

/** What the firmware boots on a reboot: [tryboot]'s partition if the flag was passed, else [all]'s. */
async function firmwareBoots(): Promise<PiSlot> {
  const text = await autoboot();
  const tryboot = (await armed())?.includes('tryboot') === true;
  const [all, trySection] = text.split('[tryboot]') as [string, string];
  const part = /boot_partition=(\d)/.exec(tryboot ? trySection : all)?.[1];
  expect(text).toContain('tryboot_a_b=1');
  return part === '2' ? 'A' : 'B';
}

async function reboot(): Promise<PiSlot> {
  const slot = await firmwareBoots();
  await bootInto(slot);
  return slot;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-tryboot-'));
  await mkdir(boot());
  await writeFile(join(boot(), 'autoboot.txt'), autobootTxt('A')); // as the image is flashed
  await writeFile(join(dir, 'vcio'), '');
  await bootInto('A');
  env = { PATH: process.env['PATH'], BTN_TRYBOOT_DIR: boot(), BTN_TRYBOOT_CMDLINE: join(dir, 'cmdline'), BTN_TRYBOOT_REBOOT_PARAM: join(dir, 'run/reboot-param'), BTN_TRYBOOT_VCIO: join(dir, 'vcio') };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rauc-tryboot-backend', () => {
  it('a fresh image: A is primary, good and running; B (empty) is bad', async () => {
    expect(await ok('get-primary')).toBe('A');
    expect(await ok('get-state', 'A')).toBe('good');
    expect(await ok('get-state', 'B')).toBe('bad');
    expect(await ok('get-current')).toBe('A');
  });

  it('an install (B marked bad, written, made primary) arms one trial of B; autoboot.txt is untouched until B is good', async () => {
    await ok('set-state', 'B', 'bad');
    await ok('set-primary', 'B');
    expect(await armed()).toBe('0 tryboot');
    expect(await ok('get-primary')).toBe('B');
    expect(await ok('get-state', 'B')).toBe('good');
    expect(await autoboot()).toBe(autobootTxt('A'));

    expect(await reboot()).toBe('B');
    expect(await ok('get-current')).toBe('B');
    expect(await ok('get-primary')).toBe('A'); // a plain reboot now would go back to A
    expect(await ok('get-state', 'B')).toBe('good'); // running as a trial
  });

  it('mark good on the trial makes it the default: B boots again without any flag', async () => {
    await ok('set-state', 'B', 'bad');
    await ok('set-primary', 'B');
    await reboot();
    await ok('set-state', 'B', 'good');
    expect(await autoboot()).toBe(autobootTxt('B'));
    expect(await ok('get-primary')).toBe('B');
    expect(await reboot()).toBe('B');
    expect(await reboot()).toBe('B');
    expect(await ok('get-state', 'A')).toBe('bad'); // neither default nor armed: A is the fallback no more

    // The next update goes the other way round.
    await ok('set-state', 'A', 'bad');
    await ok('set-primary', 'A');
    expect(await reboot()).toBe('A');
    await ok('set-state', 'A', 'good');
    expect(await autoboot()).toBe(autobootTxt('A'));
  });

  it('mark bad on the trial, or no mark at all, falls back to the committed slot at the next reboot', async () => {
    await ok('set-state', 'B', 'bad');
    await ok('set-primary', 'B');
    await reboot();
    await ok('set-state', 'B', 'bad'); // the health check condemns it
    expect(await ok('get-state', 'B')).toBe('bad');
    expect(await armed()).toBeNull();
    expect(await reboot()).toBe('A');
    expect(await ok('get-state', 'B')).toBe('bad');
    expect(await autoboot()).toBe(autobootTxt('A'));

    // Not marked at all (it hung, lost power): the firmware cleared the flag, A boots.
    await ok('set-primary', 'B');
    expect(await reboot()).toBe('B');
    expect(await reboot()).toBe('A');
    expect(await ok('get-primary')).toBe('A');
    expect(await ok('get-state', 'B')).toBe('bad');
  });

  it('marking the running default good writes nothing (it runs at every boot)', async () => {
    const before = await autoboot();
    await ok('set-state', 'A', 'good');
    await ok('set-primary', 'A');
    expect(await autoboot()).toBe(before);
    expect(await readFile(join(boot(), 'slot-marks.txt'), 'utf8').catch(() => null)).toBeNull();
    expect(await armed()).toBeNull();
  });

  it('refuses to arm a trial under a kernel that cannot pass tryboot to the firmware (Debian\'s)', async () => {
    await rm(join(dir, 'vcio'));
    const r = await backend('set-primary', 'B');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^rauc-tryboot-backend: ERR_TRYBOOT_KERNEL: the running kernel cannot set the firmware's tryboot flag/);
    expect(await armed()).toBeNull();
    expect(await ok('get-state', 'B')).toBe('bad');
  });

  it('get-current reads rauc.slot= from the command line and refuses anything else', async () => {
    await writeFile(join(dir, 'cmdline'), 'console=tty0 root=PARTUUID=62746e31-06 rauc.slot=B quiet\n');
    expect(await ok('get-current')).toBe('B');
    for (const [line, message] of [
      ['console=tty0 root=/dev/mmcblk0p5\n', /ERR_TRYBOOT_CMDLINE: .* has no rauc\.slot=/],
      ['rauc.slot=C\n', /ERR_TRYBOOT_CMDLINE: .* names rauc\.slot=C, not A or B/],
      ['rauc.slot=A rauc.slot=B\n', /ERR_TRYBOOT_CMDLINE: .* more than once/],
      [`rauc.slot=A ${'x'.repeat(5000)}\n`, /ERR_TRYBOOT_CMDLINE: .* has 50\d\d bytes, more than 4096/],
    ] as const) {
      await writeFile(join(dir, 'cmdline'), line);
      const r = await backend('get-current');
      expect(r.code, line.slice(0, 40)).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('refuses bad calls with a usage error (exit 2) and changes nothing', async () => {
    for (const args of [[], ['set-primary'], ['set-primary', 'C'], ['set-primary', 'A', 'B'], ['get-state', 'a'], ['set-state', 'B', 'ok'], ['set-state', 'B'], ['get-primary', 'A'], ['reboot']]) {
      const r = await backend(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^rauc-tryboot-backend: ERR_TRYBOOT_USAGE: /);
    }
    expect(await autoboot()).toBe(autobootTxt('A'));
    expect(await armed()).toBeNull();
  });

  it('refuses an autoboot.txt it did not write, or none, or one over 512 bytes', async () => {
    for (const [text, message] of [
      ['[all]\ntryboot_a_b=1\nboot_partition=2\n', /ERR_TRYBOOT_AUTOBOOT: .* not an A\/B selection this handler wrote/],
      ['[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=2\n', /ERR_TRYBOOT_AUTOBOOT: /],
      [`${'#'.repeat(600)}\n${autobootTxt('A')}`, /ERR_TRYBOOT_AUTOBOOT: .* more than 512/],
      [null, /ERR_TRYBOOT_AUTOBOOT: .* is missing/],
    ] as const) {
      if (text === null) await rm(join(boot(), 'autoboot.txt'));
      else await writeFile(join(boot(), 'autoboot.txt'), text);
      const r = await backend('get-primary');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('rauc-pi-post-install retarget', () => {
  it('the image\'s cmdline.txt ties boot slot A to root 5, and panics into a reset rather than waiting', () => {
    expect(piCmdline({ slotWords: slotCmdlineWords('A') })).toBe('console=tty0 console=ttyS1,115200 root=PARTUUID=62746e31-05 rauc.slot=A panic=10 rootfstype=ext4 rootwait fsck.repair=yes\n');
    expect(() => piCmdline({ slotWords: ['root=/dev/mmcblk0p5'] })).toThrow(/is not root=PARTUUID=… or rauc\.slot=A\|B/);
  });

  it('points a boot slot built for A at root B and rauc.slot=B, and back', async () => {
    const file = join(dir, 'cmdline.txt');
    await writeFile(file, piCmdline({ slotWords: slotCmdlineWords('A') })); // what the image build writes into boot slot A
    await run('dash', [PI_POST_INSTALL_SOURCE, 'retarget', file, 'B']);
    expect(await readFile(file, 'utf8')).toBe(piCmdline({ slotWords: slotCmdlineWords('B') }));
    await run('dash', [PI_POST_INSTALL_SOURCE, 'retarget', file, 'A']);
    expect(await readFile(file, 'utf8')).toContain(slotCmdlineWords('A').join(' '));
  });

  it('refuses a cmdline.txt without the slot words, a wrong slot, and a call outside RAUC', async () => {
    const file = join(dir, 'cmdline.txt');
    await writeFile(file, 'console=tty0 root=LABEL=btnroot rootwait\n');
    await expect(run('dash', [PI_POST_INSTALL_SOURCE, 'retarget', file, 'B'])).rejects.toMatchObject({ stderr: expect.stringMatching(/ERR_PI_POST_INSTALL: .* has no root=PARTUUID=62746e31-05\/06/) });
    await expect(run('dash', [PI_POST_INSTALL_SOURCE, 'retarget', file, 'C'])).rejects.toMatchObject({ stderr: expect.stringMatching(/slot must be A or B/) });
    await expect(run('dash', [PI_POST_INSTALL_SOURCE], { env: { PATH: process.env['PATH'] } })).rejects.toMatchObject({ stderr: expect.stringMatching(/RAUC_TARGET_SLOTS is not set/) });
  });
});
