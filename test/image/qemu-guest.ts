// One qemu-x86_64 guest as the image tests boot it: UEFI (OVMF), the image's own GRUB, swtpm as
// its TPM (tpm-tis over swtpm's unix control socket), QEMU's user network (the host is 10.0.2.2)
// with the status page forwarded to a host port, the serial console in a file, and QMP to read
// how much the guest has written to its disk. kill() is a power cut: QEMU gets SIGKILL; the TPM
// keeps what it wrote to its state directory, as a chip keeps its NV memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, readFile, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { until } from '../until.ts';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** What a boot that cannot go on shows on the console: GRUB's prompt, a kernel panic, an emergency shell. */
const STUCK = /grub> |Kernel panic|emergency mode/;

export interface GuestOptions {
  readonly image: string;
  readonly tpmState: string;
  /** Where the console, sockets and the firmware's variables go; name keeps several boots apart. */
  readonly work: string;
  readonly name: string;
  /** The host port forwarded to the guest's port 80. */
  readonly pagePort: number;
  readonly kvm: boolean;
}

export class QemuGuest {
  readonly consoleFile: string;
  readonly startedAt: number;
  readonly #qemu: ChildProcess;
  readonly #swtpm: ChildProcess;
  readonly #qmp: string;

  private constructor(qemu: ChildProcess, swtpm: ChildProcess, consoleFile: string, qmp: string) {
    this.#qemu = qemu;
    this.#swtpm = swtpm;
    this.consoleFile = consoleFile;
    this.#qmp = qmp;
    this.startedAt = Date.now();
  }

  static async start(o: GuestOptions): Promise<QemuGuest> {
    const sock = join(o.work, `${o.name}-swtpm.sock`);
    const qmp = join(o.work, `${o.name}-qmp.sock`);
    await rm(sock, { force: true });
    const swtpm = spawn('swtpm', ['socket', '--tpm2', '--tpmstate', `dir=${o.tpmState}`, '--ctrl', `type=unixio,path=${sock}`], { stdio: 'ignore' });
    await until('the swtpm socket', () => existsSync(sock), 10_000);
    const vars = join(o.work, `${o.name}-OVMF_VARS.fd`);
    await copyFile(OVMF_VARS, vars);
    const consoleFile = join(o.work, `${o.name}-console.log`);
    const qemu = spawn('qemu-system-x86_64', [
      '-machine', 'q35', '-accel', o.kvm ? 'kvm' : 'tcg', '-m', '1024', '-smp', '2',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`,
      '-drive', `file=${o.image},format=raw,if=virtio,id=disk0`,
      '-chardev', `socket,id=chrtpm,path=${sock}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0',
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${o.pagePort}-:80`, '-device', 'virtio-net-pci,netdev=n0',
      '-qmp', `unix:${qmp},server=on,wait=off`,
      '-display', 'none', '-monitor', 'none', '-serial', `file:${consoleFile}`,
    ], { stdio: 'ignore' });
    return new QemuGuest(qemu, swtpm, consoleFile, qmp);
  }

  console(): Promise<string> {
    return readFile(this.consoleFile, 'latin1').catch(() => '');
  }

  /** Throws when the boot cannot go on or QEMU is gone, so a wait fails now rather than at its timeout. */
  async check(): Promise<void> {
    const stuck = STUCK.exec(await this.console());
    if (stuck) throw new Error(`the guest's boot stopped: "${stuck[0]}"`);
    if (this.#qemu.exitCode !== null || this.#qemu.signalCode !== null) throw new Error(`QEMU ended (${this.#qemu.exitCode ?? this.#qemu.signalCode})`);
  }

  /** Bytes the guest has written to its disk since QEMU started (QMP query-blockstats). */
  async writtenBytes(): Promise<number> {
    const replies = await qmp(this.#qmp, ['query-blockstats']);
    const stats = replies[0] as { device?: string; qdev?: string; stats: { wr_bytes: number } }[];
    return stats.reduce((n, s) => n + s.stats.wr_bytes, 0);
  }

  /** A power cut: QEMU killed at once; then the TPM's process ends too. */
  async kill(): Promise<void> {
    this.#qemu.kill('SIGKILL');
    await until('QEMU to stop', () => this.#qemu.exitCode !== null || this.#qemu.signalCode !== null, 10_000);
    this.#swtpm.kill('SIGTERM');
    await until('swtpm to stop', () => this.#swtpm.exitCode !== null || this.#swtpm.signalCode !== null, 10_000).catch(() => this.#swtpm.kill('SIGKILL'));
  }

  /** The console's last lines, for a failure's message. */
  async tail(chars = 4000): Promise<string> {
    return (await this.console()).slice(-chars);
  }
}

/** Runs QMP commands (after the capabilities handshake) and returns their results in order. */
async function qmp(path: string, commands: readonly string[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const results: unknown[] = [];
    let buf = '';
    let sent = -1; // -1: capabilities not negotiated yet
    const timer = setTimeout(() => sock.destroy(new Error('no answer from QMP within 10 s')), 10_000);
    const send = (execute: string): void => void sock.write(`${JSON.stringify({ execute })}\n`);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > 1024 * 1024) sock.destroy(new Error('QMP sent more than 1 MiB'));
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
        buf = buf.slice(nl + 1);
        if (msg.event !== undefined) continue;
        if (msg.error !== undefined) {
          sock.destroy(new Error(`QMP: ${msg.error.desc}`));
          return;
        }
        if (msg.QMP !== undefined) {
          send('qmp_capabilities');
          continue;
        }
        if (sent >= 0) results.push(msg.return);
        sent++;
        if (sent < commands.length) send(commands[sent]!);
        else sock.end();
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      if (results.length === commands.length) resolve(results);
      else reject(new Error(`QMP closed after ${results.length} of ${commands.length} answers`));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
