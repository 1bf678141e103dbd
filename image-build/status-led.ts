// What an image must grant so that the unprivileged agent can drive its board's status LED
// (firmware/led): the LED's sysfs files belong to root and the unit mounts /sys read-only
// (ProtectKernelTunables=yes). For a board with statusLed, three files go into the root file
// system; for a board without, none.
//   - a udev rule: on add and on change (the kernel recreates delay_on/delay_off root-owned each
//     time the trigger is set, then sends a change event) the files go to group btn-node, g+w;
//   - a drop-in for btn-node.service: the LED's directory writable again inside the sandbox
//     (the leading '-' lets a board without that LED start anyway);
//   - the kernel's timer and heartbeat triggers loaded at boot (modules in Debian's kernel).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BoardConfig } from '../firmware/board/index.ts';

const LED_NAME = /^[\w:.-]{1,64}$/;

export interface StatusLedFiles {
  /** Paths relative to the root file system, and their text. */
  readonly [relativePath: string]: string;
}

export function statusLedFiles(board: Pick<BoardConfig, 'name' | 'statusLed'>): StatusLedFiles {
  if (board.statusLed === null) return {};
  const dir = dirname(board.statusLed.path);
  const name = dir.split('/').pop() ?? '';
  // The schema allows any .../leds/<name>/brightness; the image's rule and unit need a real sysfs LED.
  if (!LED_NAME.test(name) || !dir.startsWith('/sys/')) throw new Error(`board ${board.name}: statusLed.path must be a sysfs LED (/sys/class/leds/<name>/brightness), got ${board.statusLed.path}`);
  const files = ['trigger', 'brightness', 'delay_on', 'delay_off', 'invert'];
  return {
    'etc/udev/rules.d/70-btn-node-led.rules': [
      `# btn-node: the status LED ${name} (board ${board.name}) is written by the service user.`,
      `ACTION=="add|change", SUBSYSTEM=="leds", KERNEL=="${name}", RUN+="/bin/sh -c 'cd /sys%p && chgrp btn-node ${files.join(' ')} 2>/dev/null; chmod g+w ${files.join(' ')} 2>/dev/null; true'"`,
      '',
    ].join('\n'),
    'etc/systemd/system/btn-node.service.d/status-led.conf': [
      `# The status LED ${name}: /sys is read-only under ProtectKernelTunables=yes; its directory is not.`,
      '[Service]',
      `ReadWritePaths=-${dir}/`,
      '',
    ].join('\n'),
    'etc/modules-load.d/btn-node-led.conf': '# Kernel LED triggers the status LED uses (firmware/led)\nledtrig-timer\nledtrig-heartbeat\n',
  };
}

export async function installStatusLed(rootfs: string, board: Pick<BoardConfig, 'name' | 'statusLed'>): Promise<readonly string[]> {
  const files = statusLedFiles(board);
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(rootfs, rel)), { recursive: true });
    await writeFile(join(rootfs, rel), text);
  }
  return Object.keys(files);
}
