// RAUC as the update module uses it: `rauc info` (the bundle's signature checked against the
// keyring of the system config, its compatible and version), `rauc status` (compatible, booted
// slot, what each slot holds), `rauc install`, and marking the booted slot good or bad. Every
// call goes through an injected runner, so the decisions around them are tested without RAUC;
// RAUC's answers are outside input, read with size caps and typed readers.
import { execFile } from 'node:child_process';
import { array, nullable, object, optional, readWith, record, string, parseJson, type Reader } from '../core/json.ts';
import { UpdateError } from './errors.ts';

/** Runs a program with arguments (never a shell); rejects with the program's stderr in the error. */
export type CommandRunner = (file: string, args: readonly string[], options?: { readonly timeoutMs?: number }) => Promise<{ readonly stdout: string; readonly stderr: string }>;

/** A failed command: its exit status and what it said on stderr. */
export interface CommandFailure {
  readonly stdout?: string;
  readonly stderr?: string;
  readonly code?: number | string;
  readonly message?: string;
}

const MAX_OUTPUT_BYTES = 1024 * 1024;
const MAX_MESSAGE_CHARS = 2000;
/** rauc info and status answer in well under a second; install copies a whole root file system. */
const QUERY_TIMEOUT_MS = 60_000;
const INSTALL_TIMEOUT_MS = 30 * 60_000;

export function execRunner(env?: NodeJS.ProcessEnv): CommandRunner {
  return (file, args, options = {}) => new Promise((resolve, reject) => {
    execFile(file, [...args], { env: env ?? process.env, maxBuffer: MAX_OUTPUT_BYTES, timeout: options.timeoutMs ?? QUERY_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * What RAUC said when it refused: its error lines on stderr and the install's LastError (on
 * stdout, after the progress), without its info messages (rauc-Message: ...) unless that is all.
 */
export function raucMessage(err: unknown): string {
  const f = err as CommandFailure;
  const lines = [...(f.stderr ?? '').split('\n'), ...(f.stdout ?? '').split('\n').filter((l) => l.startsWith('LastError:'))].map((l) => l.trim()).filter((l) => l !== '');
  const errors = lines.filter((l) => !l.startsWith('rauc-Message:'));
  const text = (errors.length > 0 ? errors : lines).slice(-6).join('; ');
  return (text || (f.message ?? String(err))).slice(0, MAX_MESSAGE_CHARS);
}

const text = string({ max: 4096 });
const infoReader = object({ compatible: text, version: optional(text) }, { exact: false });
const slotReader = object({
  bootname: optional(nullable(text)),
  state: optional(text),
  boot_status: optional(text),
  slot_status: optional(object({ bundle: optional(object({ version: optional(nullable(text)) }, { exact: false })), status: optional(nullable(text)) }, { exact: false })),
}, { exact: false });
const statusReader = object({
  compatible: text,
  booted: nullable(text),
  boot_primary: optional(nullable(text)),
  slots: array(record(slotReader, { maxKeys: 4 }), { max: 16 }),
}, { exact: false });

export interface BundleInfo {
  readonly compatible: string;
  /** null when the bundle's manifest names none. */
  readonly version: string | null;
}

export interface SlotInfo {
  /** RAUC's slot name (rootfs.0) and the boot loader's (A). */
  readonly name: string;
  readonly bootname: string | null;
  /** good, bad, or what RAUC's boot loader backend says. */
  readonly bootStatus: string | null;
  /** The version of the bundle last installed into it (null: never installed by RAUC, or unknown). */
  readonly version: string | null;
  /** RAUC's install status of the slot: "ok" once written, "pending" from the start of a write until it ends (null: unknown). */
  readonly installStatus: string | null;
}

export interface SystemInfo {
  readonly compatible: string;
  /** The booted slot's boot name (A or B); null when RAUC cannot tell. */
  readonly booted: string | null;
  readonly slots: readonly SlotInfo[];
}

export interface RaucOptions {
  readonly run: CommandRunner;
  /** A system.conf other than /etc/rauc/system.conf (tests); its keyring checks bundles. */
  readonly conf?: string;
}

export class Rauc {
  readonly #o: RaucOptions;

  constructor(options: RaucOptions) {
    this.#o = options;
  }

  /** The bundle's compatible and version, its signature checked by RAUC; a refusal carries RAUC's message. */
  async info(bundle: string): Promise<BundleInfo> {
    let stdout: string;
    try {
      ({ stdout } = await this.#o.run('rauc', ['info', ...this.#conf(), '--output-format=json', bundle]));
    } catch (err) {
      throw new UpdateError('ERR_UPDATE_BUNDLE_REFUSED', `RAUC refused ${bundle}: ${raucMessage(err)}`, { bundle, rauc: raucMessage(err) }, { cause: err });
    }
    const info = read(infoReader, stdout, 'rauc info');
    return { compatible: info.compatible, version: info.version ?? null };
  }

  async status(): Promise<SystemInfo> {
    const { stdout } = await this.#call(['status', ...this.#conf(), '--detailed', '--output-format=json'], 'rauc status');
    const s = read(statusReader, stdout, 'rauc status');
    const slots = s.slots.flatMap((entry) => Object.entries(entry).map(([name, v]): SlotInfo => ({
      name, bootname: v.bootname ?? null, bootStatus: v.boot_status ?? null, version: v.slot_status?.bundle?.version ?? null, installStatus: v.slot_status?.status ?? null,
    })));
    return { compatible: s.compatible, booted: s.booted, slots };
  }

  /** Installs into the other slot and makes it the one the boot loader tries next. */
  async install(bundle: string): Promise<void> {
    try {
      await this.#o.run('rauc', ['install', ...this.#conf(), bundle], { timeoutMs: INSTALL_TIMEOUT_MS });
    } catch (err) {
      throw new UpdateError('ERR_UPDATE_BUNDLE_REFUSED', `RAUC did not install ${bundle}: ${raucMessage(err)}`, { bundle, rauc: raucMessage(err) }, { cause: err });
    }
  }

  /** The booted slot is good (its tries start again) or bad (the boot loader skips it). */
  async mark(state: 'good' | 'bad'): Promise<void> {
    await this.#call(['status', ...this.#conf(), `mark-${state}`, 'booted'], `rauc status mark-${state}`);
  }

  #conf(): string[] {
    return this.#o.conf === undefined ? [] : [`--conf=${this.#o.conf}`];
  }

  async #call(args: string[], what: string): Promise<{ stdout: string }> {
    try {
      return await this.#o.run('rauc', args);
    } catch (err) {
      throw new UpdateError('ERR_UPDATE_RAUC', `${what} failed: ${raucMessage(err)}`, { rauc: raucMessage(err) }, { cause: err });
    }
  }
}

function read<T>(reader: Reader<T>, stdout: string, what: string): T {
  const refuse = (e: Error): UpdateError => new UpdateError('ERR_UPDATE_RAUC', `${what} answered something unexpected: ${e.message}`);
  let value: unknown;
  try {
    value = parseJson(stdout, MAX_OUTPUT_BYTES, what);
  } catch (err) {
    throw refuse(err as Error);
  }
  return readWith(reader, value, what, refuse);
}
