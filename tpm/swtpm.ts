// Start and stop swtpm TPM 2.0 emulators for tests and local runs.
//
// Each instance gets its own state directory and its own pair of loopback ports (command port N,
// control port N+1, the layout the tpm2-tss "swtpm" TCTI expects), and is manufactured like a
// real TPM: EK created and persisted, an EK certificate and a platform certificate in NV, NV
// locked. Certificates are issued by a local CA whose directory the caller chooses, so trust
// roots stay explicit and tests never share a TPM by accident.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile, rm, access } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface SwtpmOptions {
  /** Directory for the TPM state; a fresh temporary directory when omitted. */
  readonly stateDir?: string;
  /** Directory of the local CA that signs EK and platform certificates (created if empty). */
  readonly caDir?: string;
  /** Command port; control is port + 1. A free pair is chosen when omitted. */
  readonly port?: number;
}

export interface SwtpmInstance {
  readonly stateDir: string;
  readonly caDir: string;
  readonly port: number;
  readonly ctrlPort: number;
  /** TCTI configuration string for tpm2-tss and tpm2-tools. */
  readonly tcti: string;
  /** PEM files a verifier should trust for this TPM's EK certificate (root and intermediate). */
  readonly caCertFiles: readonly string[];
  /** Process id of the running emulator, or null when stopped. */
  pid(): number | null;
  /** Stop gracefully (TPM2_Shutdown through the control channel), then terminate. */
  stop(): Promise<void>;
  /** Kill without shutdown, as a power cut would. */
  kill(): Promise<void>;
  /** Start again on the same ports and state (after stop or kill). */
  restart(): Promise<void>;
  /** Stop and delete the state directory if this module created it. */
  destroy(): Promise<void>;
}

/** Default CA directory shared by local runs (tests pass their own). */
export function defaultCaDir(): string {
  return resolve(process.env['BTN_SWTPM_CA_DIR'] ?? join(process.cwd(), '.state', 'swtpm-ca'));
}

export async function startSwtpm(options: SwtpmOptions = {}): Promise<SwtpmInstance> {
  const ownsState = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'btn-swtpm-')));
  const caDir = resolve(options.caDir ?? defaultCaDir());
  await mkdir(stateDir, { recursive: true });
  await mkdir(caDir, { recursive: true });
  try {
    if (!(await exists(join(stateDir, 'tpm2-00.permall'))) && !(await fromTemplate(stateDir, caDir))) await manufacture(stateDir, caDir);
  } catch (err) {
    if (ownsState) await rm(stateDir, { recursive: true, force: true });
    throw err;
  }

  let port = options.port ?? (await freePortPair());
  let child: ChildProcess | null = null;

  const launch = async (): Promise<void> => {
    child = spawn(
      'swtpm',
      [
        'socket', '--tpm2',
        '--tpmstate', `dir=${stateDir}`,
        '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        // The emulator powers on and runs TPM2_Startup itself, as a platform's firmware would.
        '--flags', 'not-need-init,startup-clear',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000); });
    const started = child;
    const exited = new Promise<never>((_, reject) => {
      started.once('exit', (code) => reject(new Error(`swtpm exited with ${code}: ${stderr.trim()}`)));
      started.once('error', reject);
    });
    // Both ports: a TCTI connects to the command port, and a loaded machine was seen (once, in CI)
    // to have it refuse a connection after the control port already answered.
    await Promise.race([Promise.all([waitForPort(port + 1, 5000), waitForPort(port, 5000)]), exited]);
    exited.catch(() => undefined);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    child = null;
    if (running === null || running.exitCode !== null) return;
    const gone = new Promise<void>((done) => running.once('exit', () => done()));
    if (signal === 'SIGTERM') {
      // swtpm_ioctl -s sends TPM2_Shutdown and exits the emulator cleanly.
      await execFileAsync('swtpm_ioctl', ['--tcp', `127.0.0.1:${port + 1}`, '-s']).catch(() => undefined);
      const timer = setTimeout(() => running.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(timer);
    } else {
      running.kill(signal);
      await gone;
    }
  };

  // Another process (a parallel test worker) may take a chosen free port before swtpm binds
  // it; with a port of our own choosing, try a fresh pair a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      await halt('SIGKILL');
      if (options.port !== undefined || attempt >= 5) {
        if (ownsState) await rm(stateDir, { recursive: true, force: true });
        throw err;
      }
      port = await freePortPair();
    }
  }
  return {
    stateDir,
    caDir,
    port,
    ctrlPort: port + 1,
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    caCertFiles: [join(caDir, 'swtpm-localca-rootca-cert.pem'), join(caDir, 'issuercert.pem')],
    pid: () => child?.pid ?? null,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM');
      await launch();
    },
    destroy: async () => {
      await halt('SIGTERM');
      if (ownsState) await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Environment variable naming a pool of TPMs manufactured ahead (see manufactureTemplates). */
export const SWTPM_TEMPLATES_ENV = 'BTN_SWTPM_TEMPLATES';

/** Marks a finished template (its directory exists, and is written to, before it is done). */
const READY = '.ready';
/** Holds the error when manufacturing the pool failed. */
const FAILED = 'failed';
/** What the pool will hold (written first, so that readers know what to wait for). */
const LAYOUT = 'layout.json';

/**
 * Manufactures `groups` CAs with `perGroup` distinct TPM states each into `dir` (g0/ca,
 * g0/tpm-0, ...). With the directory named in BTN_SWTPM_TEMPLATES, startSwtpm copies one of them
 * instead of running swtpm_setup (about 1 s each here), so a test suite manufactures its TPMs
 * once per run instead of once per test. Resolves once the layout is written, so that tests may
 * start at once; `done` settles when every template is made. startSwtpm waits for the one it takes.
 */
export async function manufactureTemplates(dir: string, groups: number, perGroup: number, parallel = 2): Promise<{ done: Promise<void> }> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, LAYOUT), JSON.stringify({ groups, perGroup }));
  // Round by round (every group's tpm-0 first), so the templates tests take first come first.
  const jobs: { g: number; k: number }[] = [];
  for (let k = 0; k < perGroup; k++) for (let g = 0; g < groups; g++) jobs.push({ g, k });
  // A group's tpm-0 alone creates its CA; the group's other TPMs wait for it, then use it.
  const caMade = Array.from({ length: groups }, () => {
    let made: (ok: boolean) => void = () => undefined;
    return { promise: new Promise<boolean>((r) => { made = r; }), made: (ok: boolean) => made(ok) };
  });
  const make = async ({ g, k }: { g: number; k: number }): Promise<void> => {
    if (k > 0 && !(await caMade[g]!.promise)) return;
    const ca = join(dir, `g${g}`, 'ca');
    const state = join(dir, `g${g}`, `tpm-${k}`);
    await mkdir(ca, { recursive: true });
    await mkdir(state, { recursive: true });
    try {
      await manufacture(state, ca);
    } catch (err) {
      if (k === 0) caMade[g]!.made(false);
      throw err;
    }
    await writeFile(join(state, READY), '');
    if (k === 0) caMade[g]!.made(true);
  };
  let next = 0;
  const done = Promise.all(Array.from({ length: Math.max(1, parallel) }, async () => {
    while (next < jobs.length) await make(jobs[next++]!);
  })).then(() => undefined, async (err: unknown) => {
    for (const c of caMade) c.made(false);
    await writeFile(join(dir, FAILED), (err as Error).message).catch(() => undefined);
    throw err;
  });
  return { done };
}

/** Waits until a template (or the group's CA, made with tpm-0) is finished; throws if the pool failed. */
async function templateReady(pool: string, template: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (await exists(join(pool, template, READY))) return;
    const failed = await readFile(join(pool, FAILED), 'utf8').catch(() => null);
    if (failed !== null) throw new Error(`the swtpm template pool ${pool} could not be manufactured: ${failed}`);
    if (Date.now() > deadline) throw new Error(`swtpm template ${join(pool, template)} not ready within 120 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Copies a manufactured TPM state from the template pool into stateDir. An empty CA directory
 * takes a template group's CA that this process has not given to another CA directory yet (tests
 * that trust one CA and not another still get two different CAs); a CA directory that holds a
 * group's CA gets a template of that group no other TPM of the directory has used (TPMs of one
 * network must have distinct EKs). Returns false when the caller must manufacture: no pool, a
 * CA of its own, or the group used up (the TPM is then certified by the same CA).
 */
async function fromTemplate(stateDir: string, caDir: string): Promise<boolean> {
  const pool = process.env[SWTPM_TEMPLATES_ENV];
  if (pool === undefined || pool === '') return false;
  const layout = await readFile(join(pool, LAYOUT), 'utf8').then((t) => JSON.parse(t) as { groups: number; perGroup: number }, () => null);
  if (layout === null) return false;
  const groups = Array.from({ length: layout.groups }, (_, g) => `g${g}`);
  const ours = await readFile(join(caDir, 'issuercert.pem')).catch(() => null);
  let group: string | undefined;
  if (ours === null) {
    for (const g of groups) {
      // The claim is per process: two CA directories of one test file never get one CA.
      if (!(await claim(join(pool, 'claims', String(process.pid), g)))) continue;
      group = g;
      await templateReady(pool, join(g, 'tpm-0'));
      const ca = join(pool, g, 'ca');
      for (const f of await readdir(ca)) await copyFile(join(ca, f), join(caDir, f));
      break;
    }
  } else {
    for (const g of groups) {
      // Only a finished group's CA can be the one this directory copied.
      if (!(await exists(join(pool, g, 'tpm-0', READY)))) continue;
      const theirs = await readFile(join(pool, g, 'ca', 'issuercert.pem')).catch(() => null);
      if (theirs !== null && theirs.equals(ours)) group = g;
    }
  }
  if (group === undefined) return false;
  for (let k = 0; k < layout.perGroup; k++) {
    const t = `tpm-${k}`;
    // Per CA directory: the TPMs of one network never share an EK.
    if (!(await claim(join(caDir, '.templates-used', t)))) continue;
    await templateReady(pool, join(group, t));
    await copyFile(join(pool, group, t, 'tpm2-00.permall'), join(stateDir, 'tpm2-00.permall'));
    return true;
  }
  return false;
}

/** Creates `dir` (its parent if needed); false when it exists already. mkdir is atomic, so of concurrent claims one wins. */
async function claim(dir: string): Promise<boolean> {
  await mkdir(dirname(dir), { recursive: true });
  return mkdir(dir).then(() => true, () => false);
}

/** Run swtpm_setup with a private configuration that points at caDir, never at /etc or /var. */
async function manufacture(stateDir: string, caDir: string): Promise<void> {
  const confDir = join(stateDir, '.setup');
  await mkdir(confDir, { recursive: true });
  const localcaConf = join(confDir, 'swtpm-localca.conf');
  const localcaOptions = join(confDir, 'swtpm-localca.options');
  const setupConf = join(confDir, 'swtpm_setup.conf');
  await writeFile(
    localcaConf,
    [
      `statedir = ${caDir}`,
      `signingkey = ${join(caDir, 'signkey.pem')}`,
      `issuercert = ${join(caDir, 'issuercert.pem')}`,
      `certserial = ${join(caDir, 'certserial')}`,
      '',
    ].join('\n'),
  );
  await writeFile(localcaOptions, '--platform-manufacturer btn-node\n--platform-version 2.1\n--platform-model swtpm\n');
  await writeFile(
    setupConf,
    [
      'create_certs_tool = /usr/bin/swtpm_localca',
      `create_certs_tool_config = ${localcaConf}`,
      `create_certs_tool_options = ${localcaOptions}`,
      'active_pcr_banks = sha256',
      '',
    ].join('\n'),
  );
  try {
    await execFileAsync(
      'swtpm_setup',
      [
        '--tpm2', '--tpmstate', stateDir, '--config', setupConf,
        '--create-ek-cert', '--create-platform-cert', '--lock-nvram', '--overwrite',
      ],
      { timeout: 60_000 },
    );
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`swtpm_setup failed for ${stateDir}: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

// Below Linux's default ephemeral range (32768..60999): a port handed out by the kernel for an
// outgoing connection (the TCTI's own) can never collide with a chosen swtpm port.
const PORT_MIN = 20_000;
const PORT_MAX = 32_000;

/** Find a port N such that N and N+1 are both free on loopback. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = PORT_MIN + 2 * Math.floor(Math.random() * ((PORT_MAX - PORT_MIN) / 2));
    const free = await listenOnce(port).then(() => listenOnce(port + 1)).then(() => true, () => false);
    if (free) return port;
  }
  throw new Error('no free pair of loopback ports for swtpm');
}

function listenOnce(port: number): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      server.close(() => done(bound));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const { connect } = await import('node:net');
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); done(true); });
      socket.once('error', () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`swtpm did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
