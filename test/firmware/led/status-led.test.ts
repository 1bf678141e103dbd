// The status LED against a temporary directory shaped like /sys/class/leds/<name> (trigger,
// brightness, max_brightness, delay_on, delay_off, invert): the kernel's side is outside the unit.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTriggers, patternFor, startStatusLed, type LedStatusInput } from '../../../firmware/led/index.ts';
import type { NodeStatus } from '../../../firmware/status/index.ts';
import { until } from '../../until.ts';

let root: string;
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'btn-led-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

async function fakeLed(name: string, triggers = 'none [mmc0] timer heartbeat', max = '255'): Promise<string> {
  const dir = join(root, 'leds', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'trigger'), triggers + '\n');
  for (const f of ['brightness', 'delay_on', 'delay_off', 'invert']) await writeFile(join(dir, f), '0\n');
  await writeFile(join(dir, 'max_brightness'), max + '\n');
  return dir;
}

const read = async (dir: string): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const f of ['trigger', 'brightness', 'delay_on', 'delay_off', 'invert']) out[f] = (await readFile(join(dir, f), 'utf8')).trim();
  return out;
};

function recorder(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger: Logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { logger, lines };
}

const st = (activation: NodeStatus['activation']['state'], connected: boolean, state: NodeStatus['state'] = 'running'): LedStatusInput => ({ state, activation: { state: activation }, broker: { connected } });

describe('LED pattern of a node state', () => {
  it('heartbeat when active and online, slow blink while waiting, fast blink when revoked, off when stopped', () => {
    expect(patternFor(st('active', true))).toBe('on-pulse');
    expect(patternFor(st('active', false))).toBe('slow-blink');
    expect(patternFor(st('not-activated', true))).toBe('slow-blink');
    expect(patternFor(st('not-activated', false, 'idle'))).toBe('slow-blink'); // start-up: waiting for the TPM
    expect(patternFor(st('active', true, 'idle'))).toBe('slow-blink');
    expect(patternFor(st('revoked', true))).toBe('fast-blink');
    expect(patternFor(st('active', true, 'stopped'))).toBe('off');
    // A journal the disk refuses: the node waits, but only a person frees or replaces the card.
    expect(patternFor({ ...st('active', true), faults: [{ key: 'seal journal' }] })).toBe('fast-blink');
    expect(patternFor({ ...st('active', true), faults: [{ key: 'status file' }] })).toBe('on-pulse');
    // No network manifest yet: the node can check nothing and waits for one.
    expect(patternFor({ ...st('active', true), faults: [{ key: 'network manifest' }] })).toBe('slow-blink');
  });

  it('reads the kernel trigger list, current one in brackets', () => {
    expect(parseTriggers('none rc-feedback [mmc0] timer heartbeat\n')).toEqual(new Set(['none', 'rc-feedback', 'mmc0', 'timer', 'heartbeat']));
    expect(parseTriggers('timer')).toBeNull();
  });
});

describe('status LED on a sysfs-shaped directory', () => {
  it('writes trigger and delays when the state changes, nothing in between, off on stop', async () => {
    const dir = await fakeLed('act1');
    let current = st('not-activated', false, 'idle');
    const { logger, lines } = recorder();
    const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status: () => current, logger, pollMs: 60_000 }))!;
    expect(led).not.toBeNull();
    await led.settled();
    expect(await read(dir)).toMatchObject({ trigger: 'timer', delay_on: '1000', delay_off: '1000' });

    current = st('active', true);
    led.refresh();
    await led.settled();
    expect(led.pattern).toBe('on-pulse');
    expect((await read(dir)).trigger).toBe('heartbeat');

    // same pattern again: no write (the files are left as a stranger set them)
    await writeFile(join(dir, 'trigger'), 'untouched');
    led.refresh();
    await led.settled();
    expect((await read(dir)).trigger).toBe('untouched');

    current = { ...st('active', true), update: { state: 'downloading' } };
    led.refresh();
    await led.settled();
    expect(led.pattern).toBe('updating');
    expect(await read(dir)).toMatchObject({ trigger: 'timer', delay_on: '300', delay_off: '300' });

    current = st('revoked', true);
    led.refresh();
    await led.settled();
    expect(await read(dir)).toMatchObject({ trigger: 'timer', delay_on: '100', delay_off: '100' });

    await led.stop();
    expect(await read(dir)).toMatchObject({ trigger: 'none', brightness: '0' });
    expect(lines.filter((l) => l['level'] === 40)).toEqual([]);
  });

  it('follows the status by polling; a stop on a fault leaves it blinking fast', async () => {
    const dir = await fakeLed('act2');
    let current = st('active', true);
    const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status: () => current, logger: pino({ level: 'silent' }), pollMs: 50 }))!;
    await led.settled();
    expect((await read(dir)).trigger).toBe('heartbeat');
    current = st('active', false);
    await until('the LED to follow the status', async () => (await read(dir)).trigger === 'timer', 4000, 20);
    expect(await read(dir)).toMatchObject({ trigger: 'timer', delay_on: '1000' });
    await led.stop({ fault: true });
    expect(await read(dir)).toMatchObject({ trigger: 'timer', delay_on: '100', delay_off: '100' });
  });

  it('active-low: off is full brightness, heartbeat inverted; max_brightness is honoured', async () => {
    const dir = await fakeLed('pwr', 'none timer heartbeat', '1');
    let current = st('active', true);
    const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: false }, status: () => current, logger: pino({ level: 'silent' }), pollMs: 60_000 }))!;
    await led.settled();
    expect(await read(dir)).toMatchObject({ trigger: 'heartbeat', invert: '1' });
    current = st('active', true, 'stopped');
    led.refresh();
    await led.settled();
    expect(await read(dir)).toMatchObject({ trigger: 'none', brightness: '1' });
    await led.stop();
  });

  it('without the timer trigger in the kernel: steady on when active, off otherwise, one warning', async () => {
    const dir = await fakeLed('bare', 'none [default-on]', '255');
    let current = st('not-activated', false);
    const { logger, lines } = recorder();
    const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status: () => current, logger, pollMs: 60_000 }))!;
    await led.settled();
    expect(await read(dir)).toMatchObject({ trigger: 'none', brightness: '0' });
    current = st('revoked', false);
    led.refresh();
    await led.settled();
    current = st('active', true);
    led.refresh();
    await led.settled();
    expect(await read(dir)).toMatchObject({ trigger: 'none', brightness: '255' });
    const warnings = lines.filter((l) => l['level'] === 40).map((l) => l['msg']);
    expect(warnings).toHaveLength(2); // timer once, heartbeat once
    expect(warnings[0]).toMatch(/ledtrig-timer/);
    await led.stop();
  });

  it('a missing LED: one warning naming the access the service needs, and null', async () => {
    const { logger, lines } = recorder();
    const led = await startStatusLed({ led: { path: join(root, 'leds', 'nope', 'brightness'), activeHigh: true }, status: () => st('active', true), logger });
    expect(led).toBeNull();
    const warnings = lines.filter((l) => l['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!['hint'])).toMatch(/udev rule .*ReadWritePaths=-/);
  });

  it.skipIf(process.getuid?.() === 0)('a read-only LED (the service user without the udev rule): one warning, null, nothing written', async () => {
    const dir = await fakeLed('ro');
    await chmod(join(dir, 'trigger'), 0o444);
    const { logger, lines } = recorder();
    const led = await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status: () => st('active', true), logger });
    expect(led).toBeNull();
    expect(lines.filter((l) => l['level'] === 40)).toHaveLength(1);
    expect((await read(dir)).trigger).toBe('none [mmc0] timer heartbeat');
  });

  it('a write refused later (LED gone): one warning, the LED is dropped, the caller goes on', async () => {
    const dir = await fakeLed('gone');
    let current = st('active', true);
    const { logger, lines } = recorder();
    const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status: () => current, logger, pollMs: 60_000 }))!;
    await led.settled();
    await rm(dir, { recursive: true });
    for (const s of [st('revoked', true), st('active', false), st('active', true)]) {
      current = s;
      led.refresh();
      await led.settled();
    }
    expect(lines.filter((l) => l['level'] === 40)).toHaveLength(1);
    await led.stop();
  });

  it('delay files that stay unwritable (udev rule missing): the timer keeps the kernel default, one warning', async () => {
    const dir = await fakeLed('nodelay');
    await rm(join(dir, 'delay_on'));
    const { logger, lines } = recorder();
    const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status: () => st('not-activated', false), logger, pollMs: 60_000, sleep: async () => undefined }))!;
    await led.settled();
    expect((await read(dir).catch(() => null))).toBeNull(); // delay_on is missing
    expect((await readFile(join(dir, 'trigger'), 'utf8'))).toBe('timer');
    const warnings = lines.filter((l) => l['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!['msg']).toMatch(/kernel default/);
    await led.stop();
  });
});
