// One LED of Linux's LED class (Documentation/leds/leds-class.rst): /sys/class/leds/<name>/
// trigger, brightness, max_brightness; the timer trigger adds delay_on/delay_off, the heartbeat
// trigger adds invert. Each pattern change is at most four small writes (plus a few retries of
// the delay files); nothing is written between changes. Files are opened without O_CREAT: a
// path that is not an LED gets nothing created in it.
import { constants } from 'node:fs';
import { access, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { FAST_BLINK_MS, SLOW_BLINK_MS, UPDATING_BLINK_MS, type LedPattern } from './patterns.ts';

const MAX_ATTR_BYTES = 4096;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_TRUNC;
/**
 * delay_on/delay_off appear when the timer trigger is set, owned by root: a udev rule on the LED's
 * "change" uevent (the kernel sends one with TRIGGER=timer) grants them to the service, a moment
 * later. Wait for that a few times, then keep the kernel's default 500 ms.
 */
const DELAY_RETRIES_MS = [50, 250, 1000];

export interface SysfsLedOptions {
  /** statusLed.path of the board config: <LED directory>/brightness. */
  readonly brightnessPath: string;
  readonly activeHigh: boolean;
  readonly logger: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface SysfsLed {
  readonly dir: string;
  /** Sets the pattern; false once the LED proved unusable (warned once; the node goes on without it). */
  apply(pattern: LedPattern): Promise<boolean>;
  readonly usable: boolean;
}

/** What the service needs to drive the LED as an unprivileged user; said once in the warning. */
export function accessHint(dir: string): string {
  const name = basename(dir);
  return `the service user needs write access to ${dir}/{trigger,brightness,delay_on,delay_off,invert}: ` +
    `a udev rule (SUBSYSTEM=="leds", KERNEL=="${name}", ACTION=="add|change", RUN+="/bin/chgrp btn-node ..." and chmod g+w) ` +
    `and, under ProtectKernelTunables=yes, ReadWritePaths=-${dir}/`;
}

/** Kernel's trigger file: "none timer [heartbeat] mmc0". null when it is not such a list. */
export function parseTriggers(text: string): Set<string> | null {
  const words = text.trim().split(/\s+/).filter((w) => w !== '');
  if (words.length < 2) return null;
  return new Set(words.map((w) => w.replace(/^\[(.*)\]$/, '$1')).filter((w) => /^[\w:.-]{1,64}$/.test(w)));
}

async function readAttr(path: string): Promise<string | null> {
  try {
    return (await readFile(path)).subarray(0, MAX_ATTR_BYTES).toString('utf8');
  } catch {
    return null;
  }
}

/** Opens the LED, or returns null after one warning when it is missing or not writable. */
export async function openSysfsLed(o: SysfsLedOptions): Promise<SysfsLed | null> {
  const dir = dirname(o.brightnessPath);
  const log = o.logger;
  const wait = o.sleep ?? ((ms: number) => sleep(ms));
  const triggerText = await readAttr(join(dir, 'trigger'));
  try {
    if (triggerText === null) throw Object.assign(new Error(`cannot read ${join(dir, 'trigger')}`), { code: 'ENOENT' });
    await access(join(dir, 'trigger'), constants.W_OK);
    await access(join(dir, 'brightness'), constants.W_OK);
  } catch (err) {
    log.warn({ led: dir, err: (err as Error).message, hint: accessHint(dir) }, 'status LED not usable, running without it');
    return null;
  }
  // A stub or an unusual file: assume the common triggers and let a refused write say otherwise.
  const triggers = parseTriggers(triggerText) ?? new Set(['none', 'timer', 'heartbeat']);
  const maxText = (await readAttr(join(dir, 'max_brightness')))?.trim() ?? '';
  const max = /^\d{1,5}$/.test(maxText) && Number(maxText) > 0 ? Number(maxText) : 1;
  const lit = o.activeHigh ? String(max) : '0';
  const dark = o.activeHigh ? '0' : String(max);
  let usable = true;
  let delaysWarned = false;
  const fallbackWarned = new Set<string>();

  const put = (attr: string, value: string): Promise<void> => writeFile(join(dir, attr), value, { flag: WRITE_FLAGS });

  const putDelays = async (ms: number): Promise<void> => {
    for (let i = 0; ; i++) {
      try {
        await put('delay_on', String(ms));
        await put('delay_off', String(ms));
        return;
      } catch (err) {
        const retry = DELAY_RETRIES_MS[i];
        if (retry === undefined) {
          if (!delaysWarned) log.warn({ led: dir, err: (err as Error).message, hint: accessHint(dir) }, 'status LED blink rate not set, the kernel default (500 ms) stays');
          delaysWarned = true;
          return;
        }
        await wait(retry);
      }
    }
  };

  const steady = async (on: boolean): Promise<void> => {
    // trigger first: writing brightness 0 would also drop the trigger, but not the other way round
    await put('trigger', 'none');
    await put('brightness', on ? lit : dark);
  };

  const fallback = (pattern: LedPattern, missing: string): void => {
    if (!fallbackWarned.has(missing)) log.warn({ led: dir, pattern, missing }, `kernel LED trigger "${missing}" not available (load ledtrig-${missing}); the LED shows steady on/off only`);
    fallbackWarned.add(missing);
  };

  const write = async (pattern: LedPattern): Promise<void> => {
    switch (pattern) {
      case 'off':
        return steady(false);
      case 'on-pulse':
        if (!triggers.has('heartbeat')) {
          fallback(pattern, 'heartbeat');
          return steady(true);
        }
        await put('trigger', 'heartbeat');
        // heartbeat's own polarity switch; a missing file only leaves the pulse inverted
        if (!o.activeHigh) await put('invert', '1').catch(() => undefined);
        return;
      case 'slow-blink':
      case 'fast-blink':
      case 'updating':
        if (!triggers.has('timer')) {
          fallback(pattern, 'timer');
          return steady(false);
        }
        await put('trigger', 'timer');
        // 50 % duty cycle: polarity does not change how it looks
        return putDelays(pattern === 'slow-blink' ? SLOW_BLINK_MS : pattern === 'updating' ? UPDATING_BLINK_MS : FAST_BLINK_MS);
    }
  };

  return {
    dir,
    get usable() {
      return usable;
    },
    async apply(pattern) {
      if (!usable) return false;
      try {
        await write(pattern);
        return true;
      } catch (err) {
        usable = false;
        log.warn({ led: dir, pattern, err: (err as Error).message, hint: accessHint(dir) }, 'status LED not usable, running without it');
        return false;
      }
    },
  };
}
