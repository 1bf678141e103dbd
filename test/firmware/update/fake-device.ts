// A device for the update module's unit tests: RAUC answered by a scripted runner that records
// every call (and what update-pending.json held at the moment of each), real state files in a
// temp directory, a status.json the test sets, a reboot that is only recorded.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import type { NodeStatus } from '../../../firmware/status/index.ts';
import { PENDING_FILE, Rauc, UpdateFiles, type CommandRunner, type HealthDeps } from '../../../firmware/update/index.ts';
import { snapshot } from '../status/fixtures.ts';

export interface Call {
  readonly args: readonly string[];
  /** update-pending.json when the call was made (null: absent). */
  readonly pending: unknown;
}

export interface FakeDevice {
  deps: HealthDeps;
  readonly calls: Call[];
  readonly reboots: number[];
  readonly clock: ManualClock;
  /** What `rauc info` answers: JSON, or a refusal with this stderr. */
  info: { readonly json: unknown } | { readonly stderr: string };
  /** otherStatus: RAUC's slot_status.status of the other slot ("pending" while it writes it). */
  system: { compatible: string; booted: string | null; otherVersion: string | null; otherStatus?: string };
  installFails: string | null;
  running: string;
  status: NodeStatus | null;
  /** Called on each read of status.json (the agent writing while the check waits). */
  onStatusRead: ((n: number) => void) | null;
  boot: string;
}

export function healthyStatus(over: Partial<NodeStatus> = {}): NodeStatus {
  return snapshot({
    tpm: { manufacturer: 'IBM', vendor: 'SW   TPM', firmwareVersion: '20191023.0', sealingKey: { handle: '0x81000002', publicKeyPem: 'PEM', name: 'name' }, selfTest: { verified: true, at: 1_800_000_000_000 } },
    journal: { entries: 7, highestHeight: 42 }, faults: [], ...over,
  });
}

export function fakeDevice(stateDir: string): FakeDevice {
  const clock = new ManualClock(1_800_000_000_000, { autoAdvance: true });
  let reads = 0;
  const d: FakeDevice = {
    calls: [], reboots: [], clock,
    info: { json: { compatible: 'btn-node-qemu-x86_64', version: '0.3.0', hash: 'ab', images: [] } },
    system: { compatible: 'btn-node-qemu-x86_64', booted: 'A', otherVersion: null },
    installFails: null, running: '0.2.0', status: healthyStatus(), onStatusRead: null, boot: 'boot-1',
    deps: undefined as unknown as HealthDeps,
  };
  const run: CommandRunner = async (file, args) => {
    const pending = await readFile(join(stateDir, PENDING_FILE), 'utf8').then((t) => JSON.parse(t) as unknown, () => null);
    d.calls.push({ args: [file, ...args], pending });
    const sub = args[0];
    if (sub === 'info') {
      if ('stderr' in d.info) throw Object.assign(new Error('Command failed'), { stderr: d.info.stderr, code: 1 });
      return { stdout: JSON.stringify(d.info.json), stderr: '' };
    }
    if (sub === 'status' && args.includes('--output-format=json')) {
      const { compatible, booted, otherVersion, otherStatus } = d.system;
      const other = booted === 'A' ? 'B' : 'A';
      const slot = (name: string): unknown => ({
        class: 'rootfs', bootname: name, boot_status: 'good', state: name === booted ? 'booted' : 'inactive',
        ...(name === other && otherVersion !== null ? { slot_status: { bundle: { compatible, version: otherVersion }, ...(otherStatus === undefined ? {} : { status: otherStatus }) } } : {}),
      });
      return { stdout: JSON.stringify({ compatible, variant: '', booted, boot_primary: `rootfs.${booted === 'A' ? 0 : 1}`, slots: [{ 'rootfs.0': slot('A') }, { 'rootfs.1': slot('B') }] }), stderr: '' };
    }
    if (sub === 'install') {
      if (d.installFails !== null) throw Object.assign(new Error('Command failed'), { stderr: d.installFails, code: 1 });
      d.system.otherVersion = (d.info as { json: { version: string } }).json.version;
      return { stdout: 'idle\nInstalling\n100% Installing done.\n', stderr: '' };
    }
    if (sub === 'status') return { stdout: '', stderr: '' }; // mark-good / mark-bad
    throw new Error(`unexpected ${file} ${args.join(' ')}`);
  };
  d.deps = {
    rauc: new Rauc({ run }),
    files: new UpdateFiles(stateDir),
    runningVersion: async () => d.running,
    readStatus: async () => {
      d.onStatusRead?.(++reads);
      return d.status;
    },
    reboot: async () => void d.reboots.push(clock.now()),
    now: () => clock.now(),
    bootId: () => d.boot,
    clock,
  };
  return d;
}

/** The rauc subcommands called, as "info", "status", "install", "mark-good". */
export function raucCalls(d: FakeDevice): string[] {
  return d.calls.map((c) => (c.args[1] === 'status' ? (c.args.find((a) => a.startsWith('mark-')) ?? 'status') : c.args[1]!));
}
