// A real mosquitto 2 as a network would run it, for the devnet and tests: TLS only (a throwaway CA
// made with Debian's openssl, the server certificate for localhost and 127.0.0.1), no anonymous
// clients, and the dynamic security plugin, whose clients and roles the root node manages over
// the plugin's control topic (provisioning/broker/). Host tooling: never on a device.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, isIP } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DevnetError } from './errors.ts';
import { DEVICE_MAX_INBOUND_BYTES } from '../transport/mqtt-transport.ts';

const run = promisify(execFile);

export const MOSQUITTO_BIN = process.env['MOSQUITTO_BIN'] ?? '/usr/sbin/mosquitto';
/** Where Debian's mosquitto package puts the plugin, per architecture. */
const PLUGIN_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib/arm-linux-gnueabihf', '/usr/lib'];

export interface SecureMosquitto {
  /** mqtts://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The CA a client pins (PEM). */
  readonly caPem: string;
  /** The plugin's admin: may send commands on $CONTROL/dynamic-security/v1 and nothing else. */
  readonly admin: { readonly username: string; readonly password: string };
  /** The broker's process (for its CPU time and memory in the load test). */
  readonly pid: number;
  /** Everything mosquitto wrote (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export interface SecureMosquittoOptions {
  /** Working directory for the CA, the certificates, the config and the plugin's state (kept). */
  readonly dir: string;
  readonly port: number;
  /** Largest message the broker takes from any client (mosquitto's message_size_limit). */
  readonly maxMessageBytes?: number;
  /**
   * More addresses the server certificate names besides localhost and 127.0.0.1, for clients that
   * reach this host by another one (a QEMU guest: 10.0.2.2).
   */
  readonly extraIps?: readonly string[];
}

export function dynsecPluginPath(): string {
  for (const d of PLUGIN_DIRS) {
    const p = join(d, 'mosquitto_dynamic_security.so');
    if (existsSync(p)) return p;
  }
  throw new DevnetError('ERR_DEVNET_STARTUP', `mosquitto_dynamic_security.so not found in ${PLUGIN_DIRS.join(', ')} (Debian package mosquitto)`);
}

/** A CA and a server certificate for localhost / 127.0.0.1 (and extraIps), P-256, made with openssl. */
async function makeCertificates(dir: string, extraIps: readonly string[]): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '3650', '-subj', '/CN=btn devnet broker CA']);
  await run('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  for (const ip of extraIps) if (isIP(ip) === 0) throw new DevnetError('ERR_DEVNET_OPTIONS', `not an IP address for the broker's certificate: ${JSON.stringify(ip.slice(0, 64))}`);
  const names = ['DNS:localhost', 'IP:127.0.0.1', ...extraIps.map((ip) => `IP:${ip}`)].join(',');
  await writeFile(ext, `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '825', '-extfile', ext]);
  return { ca, cert, key };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** The largest MQTT packet the broker takes: a candidate at the device's inbound ceiling plus room for its topic and properties. */
export const BROKER_MAX_PACKET_BYTES = DEVICE_MAX_INBOUND_BYTES + 64 * 1024;

export async function startSecureMosquitto(o: SecureMosquittoOptions): Promise<SecureMosquitto> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  const { ca, cert, key } = await makeCertificates(o.dir, o.extraIps ?? []);
  const admin = { username: 'btn-root-admin', password: randomBytes(24).toString('base64url') };
  const dynsec = join(o.dir, 'dynamic-security.json');
  await rm(dynsec, { force: true });
  await run('mosquitto_ctrl', ['dynsec', 'init', dynsec, admin.username, admin.password]);
  const conf = join(o.dir, 'mosquitto.conf');
  await writeFile(conf, [
    `listener ${o.port} 127.0.0.1`,
    `cafile ${ca}`, `certfile ${cert}`, `keyfile ${key}`, 'tls_version tlsv1.2',
    'allow_anonymous false',
    `plugin ${dynsecPluginPath()}`, `plugin_opt_config_file ${dynsec}`,
    `message_size_limit ${o.maxMessageBytes ?? 0}`,
    // What mosquitto 2 can bound, all of it globally (it has no per-client or per-role limit and no
    // publish rate limit; the ACL, the nodes' own caps and revocation do the rest): a packet over
    // the device's inbound ceiling disconnects its sender, and a slow subscriber's queue is capped.
    `max_packet_size ${BROKER_MAX_PACKET_BYTES}`,
    'max_inflight_messages 20', 'max_queued_messages 1000', `max_queued_bytes ${64 * 1024 * 1024}`,
    // Nagle off: a retained message sent right after its SUBACK (a header-first body) would
    // otherwise wait for the client's delayed ACK, about 40 ms.
    'set_tcp_nodelay true',
    'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning',
    // Started as root (CI), mosquitto would drop to its own user, which cannot read our 0700 directory.
    `user ${userInfo().username}`,
  ].join('\n') + '\n');
  let log = '';
  const child: ChildProcess = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  let exited = false;
  child.once('exit', () => { exited = true; });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(o.port))) {
    if (exited) throw new DevnetError('ERR_DEVNET_STARTUP', `mosquitto exited at start: ${log}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new DevnetError('ERR_DEVNET_STARTUP', `mosquitto did not listen on ${o.port} within 10 s: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtts://127.0.0.1:${o.port}`, port: o.port, caPem: await readFile(ca, 'utf8'), admin, pid: child.pid ?? 0,
    output: () => log,
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
