// Board configuration (board-configs/*.json): what differs between a Raspberry Pi with a TPM HAT,
// a set-top box, an OpenWrt router and the emulated boards of the image boot test. The validator
// is hand-written (no schema library on the device) and names every wrong field, not the first.
export interface BoardConfig {
  readonly name: string;
  readonly description: string;
  readonly arch: 'x64' | 'arm64' | 'armhf';
  /** Debian architecture name used by image-build (amd64, arm64, armhf), or null where no Debian image is built. */
  readonly debianArch: 'amd64' | 'arm64' | 'armhf' | null;
  readonly libc: 'glibc' | 'musl';
  readonly tcti: string;
  readonly tpmDevice: string;
  /**
   * Whether the board's stock kernel gives tpmDevice: 'device' (it does), 'needs-kernel-driver'
   * (the distribution kernel lacks the TPM driver, e.g. Debian 12 arm64 has no CONFIG_TCG_TIS, so
   * a custom kernel or swtpm's vtpm-proxy inside the guest is needed; see boot.notes).
   */
  readonly tpmPath: 'device' | 'needs-kernel-driver';
  /** Node's --max-old-space-size, MiB. */
  readonly nodeMaxOldSpaceMb: number;
  /** systemd MemoryMax / procd memory limit, MiB; must leave room above the V8 heap. */
  readonly memoryMaxMb: number;
  readonly telemetryIntervalS: number;
  /** The status LED (firmware/led): <LED class directory>/brightness; activeHigh false for LEDs lit at 0. */
  readonly statusLed: { readonly path: string; readonly activeHigh: boolean } | null;
  readonly serviceManager: 'systemd' | 'procd';
  readonly boot: {
    /** Lines for the Raspberry Pi config.txt (e.g. dtoverlay=tpm-slb9670). */
    readonly configTxt: readonly string[];
    /** Device-tree overlays merged into the board's DTB at image build time (fdtoverlay). */
    readonly mergeOverlays: readonly string[];
    /** QEMU device for the emulated TPM, for emulated boards. */
    readonly qemuTpmDevice: 'tpm-tis' | 'tpm-tis-device' | null;
    readonly notes: string;
  };
}

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export type BoardValidation = { readonly ok: true; readonly config: BoardConfig } | { readonly ok: false; readonly errors: readonly FieldProblem[] };

const KNOWN = ['name', 'description', 'arch', 'debianArch', 'libc', 'tcti', 'tpmDevice', 'tpmPath', 'nodeMaxOldSpaceMb', 'memoryMaxMb', 'telemetryIntervalS', 'statusLed', 'serviceManager', 'boot'];
const BOOT_KNOWN = ['configTxt', 'mergeOverlays', 'qemuTpmDevice', 'notes'];
/**
 * An LED class device's brightness file; its directory also holds trigger, delay_on/delay_off
 * (firmware/led). Usually /sys/class/leds/<name>/brightness; the device path
 * (/sys/devices/platform/leds/leds/<name>/brightness) and a test's stub directory also fit.
 */
const LED_PATH = /^\/(?:[\w:.-]+\/){0,16}leds\/[\w:.-]{1,64}\/brightness$/;
const TCTI = /^(device:\/dev\/tpm(rm)?\d+|swtpm:[\w=.,:-]*|mssim:[\w=.,:-]*|tabrmd(:[\w=.,:-]*)?)$/;

export function validateBoardConfig(value: unknown): BoardValidation {
  const errors: FieldProblem[] = [];
  const bad = (field: string, message: string): void => void errors.push({ field, message });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, errors: [{ field: '(root)', message: 'must be a JSON object' }] };
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.includes(k)) bad(k, 'unknown field (a typo must not pass silently)');

  const str = (k: string, re: RegExp, what: string): void => {
    if (typeof o[k] !== 'string' || !re.test(o[k] as string)) bad(k, `must be ${what}`);
  };
  const oneOf = (k: string, options: readonly unknown[]): void => {
    if (!options.includes(o[k])) bad(k, `must be one of ${options.map((x) => JSON.stringify(x)).join(', ')}`);
  };
  const int = (k: string, min: number, max: number): void => {
    if (typeof o[k] !== 'number' || !Number.isInteger(o[k]) || (o[k] as number) < min || (o[k] as number) > max) bad(k, `must be an integer in ${min}..${max}`);
  };

  str('name', /^[a-z0-9][a-z0-9_-]{0,39}$/, 'a lower-case board name of at most 40 characters');
  str('description', /^.{1,200}$/, 'a description of 1..200 characters');
  oneOf('arch', ['x64', 'arm64', 'armhf']);
  oneOf('debianArch', ['amd64', 'arm64', 'armhf', null]);
  oneOf('libc', ['glibc', 'musl']);
  str('tcti', TCTI, 'a TCTI string: device:/dev/tpmrm0, swtpm:..., mssim:... or tabrmd');
  str('tpmDevice', /^\/dev\/tpm(rm)?\d+$/, 'a TPM device node such as /dev/tpmrm0');
  oneOf('tpmPath', ['device', 'needs-kernel-driver']);
  int('nodeMaxOldSpaceMb', 32, 8192);
  int('memoryMaxMb', 64, 16384);
  int('telemetryIntervalS', 5, 86_400);
  oneOf('serviceManager', ['systemd', 'procd']);
  if (typeof o['nodeMaxOldSpaceMb'] === 'number' && typeof o['memoryMaxMb'] === 'number' && o['memoryMaxMb'] < o['nodeMaxOldSpaceMb'] + 48) {
    bad('memoryMaxMb', 'must leave at least 48 MiB above nodeMaxOldSpaceMb (V8 code, native buffers, koffi)');
  }
  if (o['libc'] === 'musl' && o['serviceManager'] === 'systemd') bad('serviceManager', 'musl boards (OpenWrt) use procd');
  if (o['debianArch'] !== null && o['debianArch'] !== undefined) {
    const expected = { x64: 'amd64', arm64: 'arm64', armhf: 'armhf' }[o['arch'] as 'x64'];
    if (expected !== undefined && o['debianArch'] !== expected) bad('debianArch', `must be ${expected} for arch ${String(o['arch'])}`);
  }

  const led = o['statusLed'];
  if (led !== null) {
    if (typeof led !== 'object' || led === undefined || Array.isArray(led)) bad('statusLed', 'must be null or { path, activeHigh }');
    else {
      const l = led as Record<string, unknown>;
      if (typeof l['path'] !== 'string' || !LED_PATH.test(l['path']) || l['path'].split('/').includes('..')) bad('statusLed.path', 'must be an LED class brightness file: /sys/class/leds/<name>/brightness (or another .../leds/<name>/brightness)');
      if (typeof l['activeHigh'] !== 'boolean') bad('statusLed.activeHigh', 'must be true or false');
      for (const k of Object.keys(l)) if (k !== 'path' && k !== 'activeHigh') bad(`statusLed.${k}`, 'unknown field');
    }
  }

  const boot = o['boot'];
  if (typeof boot !== 'object' || boot === null || Array.isArray(boot)) bad('boot', 'must be an object { configTxt, mergeOverlays, qemuTpmDevice, notes }');
  else {
    const b = boot as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!BOOT_KNOWN.includes(k)) bad(`boot.${k}`, 'unknown field');
    for (const k of ['configTxt', 'mergeOverlays']) {
      const v = b[k];
      if (!Array.isArray(v) || v.length > 32 || !v.every((x) => typeof x === 'string' && /^[\x20-\x7e]{1,200}$/.test(x))) bad(`boot.${k}`, 'must be a list of at most 32 printable lines');
    }
    if (!['tpm-tis', 'tpm-tis-device', null].includes(b['qemuTpmDevice'] as string | null)) bad('boot.qemuTpmDevice', 'must be "tpm-tis", "tpm-tis-device" or null');
    if (typeof b['notes'] !== 'string' || (b['notes'] as string).length > 2000) bad('boot.notes', 'must be a string of at most 2000 characters');
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: o as unknown as BoardConfig };
}
