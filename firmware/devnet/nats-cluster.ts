// A three-member nats-server cluster on this machine, as a distributed MQTT broker for the devnet:
// Debian's nats-server 2.9 speaks MQTT 3.1.1 on top of JetStream (retained messages, sessions and
// QoS 1 messages live in replicated streams), so every member runs JetStream with its own store,
// a server_name, and routes to the other two. Host tooling: never on a device.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { freePort } from '../core/free-port.ts';
import { DevnetError } from './errors.ts';
import { BROKER_MAX_PACKET_BYTES } from './secure-mosquitto.ts';

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';
const MEMBERS = 3;
/** How much of a member's log output() gives (its tail). */
const MAX_LOG_CHARS = 64 * 1024;

export interface NatsMember {
  /** m0, m1, m2: its server_name. */
  readonly name: string;
  /** mqtt://127.0.0.1:PORT */
  readonly mqttUrl: string;
  readonly ports: { readonly client: number; readonly cluster: number; readonly mqtt: number; readonly monitor: number };
  /** False once killed or stopped. */
  readonly alive: boolean;
  /** The member's log (<dir>/mN/nats.log), its tail. */
  output(): string;
}

export interface NatsCluster {
  readonly members: readonly NatsMember[];
  /** Every member's MQTT URL, member 0 first. */
  readonly mqttUrls: readonly string[];
  /** SIGKILL to one member (no goodbye to its clients or routes); resolves once it has exited. */
  kill(member: number): Promise<void>;
  /** Stops every member still running (SIGTERM, SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Config files, logs and each member's JetStream store go under it (kept). */
  readonly dir: string;
  /** Largest message (nats max_payload); default the same ceiling as the devnet's mosquitto. */
  readonly maxPayloadBytes?: number;
  /** How long the cluster may take to be ready (routes, JetStream meta leader, MQTT). Default 30 s. */
  readonly readyTimeoutMs?: number;
}

interface Running {
  readonly member: NatsMember & { alive: boolean };
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

function memberConfig(name: string, dir: string, p: NatsMember['ports'], routes: readonly number[], maxPayload: number): string {
  return [
    `server_name: ${name}`,
    `log_file: ${JSON.stringify(join(dir, 'nats.log'))}`,
    `listen: 127.0.0.1:${p.client}`,
    `http: 127.0.0.1:${p.monitor}`,
    `max_payload: ${maxPayload}`,
    // The store is the run's to keep or remove; bounded so a runaway test cannot fill the disk.
    `jetstream { store_dir: ${JSON.stringify(join(dir, 'jetstream'))}, max_memory_store: 256MB, max_file_store: 2GB }`,
    'cluster {',
    '  name: btn-devnet',
    `  listen: 127.0.0.1:${p.cluster}`,
    `  routes: [ ${routes.map((r) => `nats-route://127.0.0.1:${r}`).join(', ')} ]`,
    '}',
    // Streams (retained messages, sessions, QoS 1 messages) and each subscription's consumer on
    // all three members, so they outlive one. (Consumers on one member only are worse: a session
    // whose consumer was on the dead member cannot be cleaned up, and its client never gets back in.)
    `mqtt { listen: 127.0.0.1:${p.mqtt}, stream_replicas: 3 }`,
  ].join('\n') + '\n';
}

async function monitor(port: number, path: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A CONNACK from the member's MQTT listener: it answers only once its JetStream streams are up. */
function mqttAnswers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, clean: true, clientId: `btn-probe-${Math.random().toString(16).slice(2, 10)}` });
    const done = (ok: boolean): void => { c.removeAllListeners(); c.on('error', () => {}); c.end(true); resolve(ok); };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.once('close', () => done(false));
  });
}

/** Routes to both others, a JetStream meta leader known, and MQTT answering. */
async function memberReady(m: NatsMember): Promise<string | null> {
  const routez = await monitor(m.ports.monitor, '/routez');
  const routes = typeof routez?.['num_routes'] === 'number' ? routez['num_routes'] : 0;
  if (routes < MEMBERS - 1) return `${m.name}: routes ${routes}/${MEMBERS - 1}`;
  const jsz = await monitor(m.ports.monitor, '/jsz');
  const leader = (jsz?.['meta_cluster'] as { leader?: string } | undefined)?.leader;
  if (typeof leader !== 'string' || leader === '') return `${m.name}: no JetStream meta leader yet`;
  if (!(await mqttAnswers(m.mqttUrl))) return `${m.name}: MQTT listener does not answer yet`;
  return null;
}

export async function startNatsCluster(o: NatsClusterOptions): Promise<NatsCluster> {
  const maxPayload = o.maxPayloadBytes ?? BROKER_MAX_PACKET_BYTES;
  if (!Number.isInteger(maxPayload) || maxPayload < 1024 || maxPayload > 64 * 1024 * 1024) throw new DevnetError('ERR_DEVNET_OPTIONS', `maxPayloadBytes must be 1 KiB..64 MiB, got ${maxPayload}`);
  // Twelve ports picked free a moment before the members bind them: on a busy machine another
  // process may take one in between, and the whole cluster starts again on new ones.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o, maxPayload);
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt >= PORT_ATTEMPTS) throw err instanceof PortTaken ? err.failure : err;
    }
  }
}

const PORT_ATTEMPTS = 3;

class PortTaken extends Error {
  constructor(readonly failure: DevnetError) {
    super(failure.message);
  }
}

function tail(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-MAX_LOG_CHARS);
  } catch {
    return '';
  }
}

async function startOnce(o: NatsClusterOptions, maxPayload: number): Promise<NatsCluster> {
  const ports: NatsMember['ports'][] = [];
  for (let i = 0; i < MEMBERS; i++) ports.push({ client: await freePort(), cluster: await freePort(), mqtt: await freePort(), monitor: await freePort() });
  const running: Running[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(running.map(async (r) => {
      if (!r.member.alive) return;
      const t = setTimeout(() => r.child.kill('SIGKILL'), 5000);
      r.child.kill('SIGTERM');
      await r.exited;
      clearTimeout(t);
    }));
  };
  try {
    for (let i = 0; i < MEMBERS; i++) {
      const name = `m${i}`;
      const dir = join(o.dir, name);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const conf = join(dir, 'nats.conf');
      const logFile = join(dir, 'nats.log');
      await rm(logFile, { force: true });
      await writeFile(conf, memberConfig(name, dir, ports[i]!, ports.map((p) => p.cluster), maxPayload));
      // What it says before its log file is open (a config error) comes on stderr.
      let early = '';
      const child = spawn(NATS_SERVER_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d: Buffer) => { early = (early + d.toString()).slice(-MAX_LOG_CHARS); });
      const member = { name, mqttUrl: `mqtt://127.0.0.1:${ports[i]!.mqtt}`, ports: ports[i]!, alive: true, output: () => early + tail(logFile) };
      const exited = new Promise<void>((resolve) => {
        child.once('exit', () => { member.alive = false; resolve(); });
        child.once('error', (err) => { early += `\nspawn failed: ${err.message}`; member.alive = false; resolve(); });
      });
      running.push({ member, child, exited });
    }
    const timeout = o.readyTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeout;
    for (;;) {
      const dead = running.find((r) => !r.member.alive);
      if (dead !== undefined) {
        const out = dead.member.output();
        const failure = new DevnetError('ERR_DEVNET_STARTUP', `nats-server ${dead.member.name} exited at start: ${out.slice(-2000)}`);
        throw /address already in use/.test(out) ? new PortTaken(failure) : failure;
      }
      const waiting = (await Promise.all(running.map((r) => memberReady(r.member)))).filter((w) => w !== null);
      if (waiting.length === 0) break;
      if (Date.now() > deadline) throw new DevnetError('ERR_DEVNET_STARTUP', `the nats cluster was not ready within ${timeout} ms: ${waiting.join('; ')}\n${running[0]!.member.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stopAll();
    if (err instanceof DevnetError || err instanceof PortTaken) throw err;
    throw new DevnetError('ERR_DEVNET_STARTUP', `the nats cluster did not start: ${(err as Error).message}`, {}, { cause: err });
  }
  let stopping: Promise<void> | null = null;
  return {
    members: running.map((r) => r.member),
    mqttUrls: running.map((r) => r.member.mqttUrl),
    async kill(member) {
      const r = running[member];
      if (r === undefined) throw new DevnetError('ERR_DEVNET_OPTIONS', `no member ${member} (0..${MEMBERS - 1})`);
      if (!r.member.alive) return;
      r.child.kill('SIGKILL');
      await r.exited;
    },
    stop: () => (stopping ??= stopAll()),
  };
}
