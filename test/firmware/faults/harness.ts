// `btn-node run` as a real child process for the fault tests: its pino lines from stderr, its
// status page, and (for disk faults) a state directory on a small tmpfs of its own. The tmpfs
// lives in a private mount namespace of the child (`unshare --mount`, plus `--user
// --map-root-user` when not root), so a crashed test leaves no mount behind; the test reaches
// it through /proc/<pid>/root and remounts it with nsenter.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { until as waitUntil } from '../../until.ts';

const BTN_NODE = fileURLToPath(new URL('../../../firmware/bin/btn-node.js', import.meta.url));
const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const UNSHARE = asRoot ? ['unshare', '--mount', '--propagation', 'private'] : ['unshare', '--user', '--map-root-user', '--mount', '--propagation', 'private'];
// In a user namespace, mount(8) must not re-pass the tmpfs's uid= option (unmapped there: EINVAL).
const MOUNT_OPTS = ['--options-mode', 'ignore', '--options-source', 'disable'];
const REMOUNT = `mount ${MOUNT_OPTS.join(' ')} -o remount`;

/** Whether this machine lets a child mount its own tmpfs; the reason when it does not. */
export const tmpfsSupport: { readonly ok: boolean; readonly reason: string } = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'btn-ns-probe-'));
  try {
    const r = spawnSync(UNSHARE[0]!, [...UNSHARE.slice(1), 'sh', '-c', `mount -t tmpfs -o size=64k btn-probe "$1" && ${REMOUNT},ro "$1"`, 'sh', dir], { encoding: 'utf8', timeout: 10_000 });
    if (r.error) return { ok: false, reason: `${UNSHARE.join(' ')} could not run: ${r.error.message}` };
    if (r.status !== 0) return { ok: false, reason: `${UNSHARE.join(' ')} + mount -t tmpfs failed (exit ${r.status}): ${r.stderr.trim().slice(0, 300)}` };
    return { ok: true, reason: '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
if (!tmpfsSupport.ok) process.stderr.write(`fault tests on a small tmpfs are SKIPPED: ${tmpfsSupport.reason}\n`);

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [k: string]: unknown;
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export interface AgentChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every pino line so far. */
  readonly lines: LogLine[];
  stderr(): string;
  /** A path inside the child's mount namespace (its tmpfs), seen from this process. */
  inside(path: string): string;
  /** Remounts the child's tmpfs read-only or writable, in its mount namespace. */
  remount(dir: string, mode: 'ro' | 'rw'): Promise<void>;
  stop(): Promise<number | null>;
}

export interface SpawnOptions {
  readonly config: string;
  /** Mount a tmpfs of this many bytes over this directory for the child. */
  readonly tmpfs?: { readonly dir: string; readonly bytes: number; readonly fill?: boolean; readonly readOnly?: boolean };
  /** A command the agent is started through, which execs it (systemd-socket-activate ...). */
  readonly launcher?: readonly string[];
}

export function spawnAgent(o: SpawnOptions): AgentChild {
  const node = [...(o.launcher ?? []), process.execPath, BTN_NODE, 'run', '--config', o.config];
  let child: ChildProcess;
  if (o.tmpfs === undefined) {
    child = spawn(node[0]!, node.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  } else {
    // dd stops at ENOSPC: the ballast fills every free block of the tmpfs.
    const script = [
      'set -e',
      `mount -t tmpfs -o size=${o.tmpfs.bytes},mode=0755 btn-fault "$1"`,
      o.tmpfs.fill ? 'dd if=/dev/zero of="$1/ballast" bs=4096 2>/dev/null || true' : ':',
      o.tmpfs.readOnly ? `${REMOUNT},ro "$1"` : ':',
      'shift',
      'exec "$@"',
    ].join('\n');
    child = spawn(UNSHARE[0]!, [...UNSHARE.slice(1), 'sh', '-c', script, 'sh', o.tmpfs.dir, ...node], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  const lines: LogLine[] = [];
  let text = '';
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    text += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch { /* not a pino line */ }
    }
  });
  const pid = child.pid!;
  const nsenter = asRoot ? ['nsenter', '-t', String(pid), '-m'] : ['nsenter', '-t', String(pid), '-U', '-m', '--preserve-credentials'];
  return {
    child, pid, lines,
    stderr: () => text,
    inside: (path) => `/proc/${pid}/root${path}`,
    remount: async (dir, mode) => {
      await run(nsenter[0]!, [...nsenter.slice(1), 'mount', ...MOUNT_OPTS, '-o', `remount,${mode}`, dir]);
    },
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    }),
  };
}

/** Writes zeros to `path` until the file system is full; returns the bytes written. */
export async function fillUp(path: string): Promise<number> {
  const fh = await open(path, 'w');
  const chunk = new Uint8Array(16 * 1024);
  let total = 0;
  try {
    for (;;) total += (await fh.write(chunk)).bytesWritten;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
  // Small writes may still fit in the last partial page; fill that too.
  const tail = await open(path, 'a');
  try {
    for (;;) total += (await tail.write(new Uint8Array(512))).bytesWritten;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await tail.close();
  }
  return total;
}

export async function remove(path: string): Promise<void> {
  await unlink(path);
}

export { freePort } from '../../net.ts';

export async function getJson(url: string): Promise<Record<string, any> | null> {
  try {
    const r = await fetch(url);
    return r.ok ? ((await r.json()) as Record<string, any>) : null;
  } catch {
    return null;
  }
}

export async function getText(url: string): Promise<string> {
  const r = await fetch(url);
  return r.text();
}

let lastSeen: unknown;
/** Polls `probe` until it returns something truthy; the error names what and the last value seen. */
export function until<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, ms = 30_000, agent?: AgentChild): Promise<T> {
  return waitUntil(what, probe, {
    ms, everyMs: 100,
    lastSeen: () => agent === undefined ? lastSeen : { lastSeen, stderr: agent.stderr().slice(-3000) },
    stopIf: () => (agent !== undefined && agent.child.exitCode !== null ? `agent exited (${agent.child.exitCode}): ${agent.stderr().slice(-3000)}` : null),
  });
}

/** Remembers a value for the timeout message of `until`. */
export function seen<T>(v: T): T {
  lastSeen = v;
  return v;
}

/** The faults on the status page right now. */
export async function pageFaults(statusUrl: string): Promise<{ key: string; code: string; message: string }[] | null> {
  const s = seen(await getJson(`${statusUrl}/status.json`));
  return (s?.['faults'] as { key: string; code: string; message: string }[] | undefined) ?? null;
}

/** HTML entities the status page escapes, undone for comparing a message with the page. */
export function unescapeHtml(html: string): string {
  return html.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}
