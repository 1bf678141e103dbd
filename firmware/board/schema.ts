// Board configuration (board-configs/*.json): what differs between a Raspberry Pi with a TPM HAT,
// a set-top box, an OpenWrt router and the emulated boards of the image boot test. Read through
// the JSON readers (firmware/core/json.ts), naming every wrong field, not only the first.
import { array, boolean, integer, nullable, object, oneOf, problemsOf, refine, string, type Reader } from '../core/json.ts';

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
  /**
   * Directories of the distribution kernel's modules (under lib/modules/<version>/kernel, e.g.
   * drivers/gpu) for hardware the board cannot have: left out of its image, and so out of every
   * update bundle and slot write. Empty where the kernel is the board's own or the hardware varies.
   */
  readonly omitKernelModules: readonly string[];
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

/**
 * An LED class device's brightness file; its directory also holds trigger, delay_on/delay_off
 * (firmware/led). Usually /sys/class/leds/<name>/brightness; the device path
 * (/sys/devices/platform/leds/leds/<name>/brightness) and a test's stub directory also fit.
 */
const LED_PATH = /^\/(?:[\w:.-]+\/){0,16}leds\/[\w:.-]{1,64}\/brightness$/;
const TCTI = /^(device:\/dev\/tpm(rm)?\d+|swtpm:[\w=.,:-]*|mssim:[\w=.,:-]*|tabrmd(:[\w=.,:-]*)?)$/;

/** A string matching `rule`, refused in words a person fixing the file understands. */
const text = (max: number, rule: (s: string) => boolean, what: string): Reader<string> =>
  refine(string({ max }), (s) => (rule(s) ? undefined : `expected ${what}`));
const bootLines = array(text(200, (s) => /^[\x20-\x7e]{1,200}$/.test(s), 'a printable line of 1..200 characters'), { max: 32 });

// Exact: a typo must not pass silently.
const boardReader = object({
  name: text(40, (s) => /^[a-z0-9][a-z0-9_-]{0,39}$/.test(s), 'a lower-case board name of at most 40 characters'),
  description: text(200, (s) => /^.{1,200}$/.test(s), 'a description of 1..200 characters'),
  arch: oneOf(['x64', 'arm64', 'armhf']),
  debianArch: nullable(oneOf(['amd64', 'arm64', 'armhf'])),
  libc: oneOf(['glibc', 'musl']),
  tcti: text(200, (s) => TCTI.test(s), 'a TCTI string: device:/dev/tpmrm0, swtpm:..., mssim:... or tabrmd'),
  tpmDevice: text(64, (s) => /^\/dev\/tpm(rm)?\d+$/.test(s), 'a TPM device node such as /dev/tpmrm0'),
  tpmPath: oneOf(['device', 'needs-kernel-driver']),
  nodeMaxOldSpaceMb: integer({ min: 32, max: 8192 }),
  memoryMaxMb: integer({ min: 64, max: 16384 }),
  telemetryIntervalS: integer({ min: 5, max: 86_400 }),
  statusLed: nullable(object({
    path: text(400, (s) => LED_PATH.test(s) && !s.split('/').includes('..'), 'an LED class brightness file: /sys/class/leds/<name>/brightness (or another .../leds/<name>/brightness)'),
    activeHigh: boolean(),
  })),
  serviceManager: oneOf(['systemd', 'procd']),
  omitKernelModules: array(text(80, (s) => /^[a-z0-9_-]+(\/[a-z0-9_.-]+){0,4}$/.test(s) && !s.split('/').includes('..'), 'a directory under the kernel\'s modules, such as drivers/gpu'), { max: 64 }),
  boot: object({
    configTxt: bootLines,
    mergeOverlays: bootLines,
    qemuTpmDevice: nullable(oneOf(['tpm-tis', 'tpm-tis-device'])),
    notes: string({ max: 2000 }),
  }),
});

/** Reads a parsed board config, naming every wrong field at once (not only the first). */
export function validateBoardConfig(value: unknown): BoardValidation {
  const shape = problemsOf(boardReader, value, '');
  if (shape.length > 0) {
    return { ok: false, errors: shape.map((p) => (p.path === '' ? { field: '(root)', message: 'must be a JSON object' } : { field: p.path, message: p.expected })) };
  }
  const config: BoardConfig = boardReader.read(value, '');
  // Rules between fields, once each field is right.
  const errors: FieldProblem[] = [];
  if (config.memoryMaxMb < config.nodeMaxOldSpaceMb + 48) {
    errors.push({ field: 'memoryMaxMb', message: 'must leave at least 48 MiB above nodeMaxOldSpaceMb (V8 code, native buffers, koffi)' });
  }
  if (config.libc === 'musl' && config.serviceManager === 'systemd') errors.push({ field: 'serviceManager', message: 'musl boards (OpenWrt) use procd' });
  const expected = { x64: 'amd64', arm64: 'arm64', armhf: 'armhf' }[config.arch];
  if (config.debianArch !== null && config.debianArch !== expected) errors.push({ field: 'debianArch', message: `must be ${expected} for arch ${config.arch}` });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}
