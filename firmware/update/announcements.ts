// The fleet way to update (docs/updates.md): the node follows the root-signed announcement on
// <prefix>/updates, and for one that is for its board and newer than what it runs (and not below
// its downgrade floor) it waits for its own moment in the announced window (fixed by its node id,
// so a restart does not draw a new one and the fleet spreads its downloads), then for a moment
// when it is not spinning on a block, downloads the bundle into its state directory (bounded by
// the announced size, hashed on the way), and writes the install request for root. Nothing
// unsigned moves it: the signature is checked with the root key before a byte is downloaded.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock.ts';
import { sha256OfFile } from '../core/file-hash.ts';
import { verifyUpdateAnnouncement, type UpdateAnnouncement } from '../protocol/update-announcement.ts';
import { UpdateError } from './errors.ts';
import { DOWNLOAD_DIR, readRequest, writeRequest } from './request.ts';
import { UpdateFiles } from './state-files.ts';
import { checkVersion, compareVersions } from './version.ts';

export interface FollowerOptions {
  readonly stateDir: string;
  readonly nodeId: string;
  readonly network: string;
  readonly rootPublicKey: Uint8Array;
  /** The root keys valid now per the held network manifest (a rotation's window); absent or null: rootPublicKey alone. */
  readonly rootKeys?: () => readonly Uint8Array[] | null;
  /** This system's RAUC compatible (btn-node-<board>); null: not an A/B image, announcements are ignored. */
  readonly compatible: () => Promise<string | null>;
  readonly runningVersion: () => Promise<string>;
  readonly floor: () => Promise<string | null>;
  /** Blocks the node is spinning on now: it never downloads or asks for an install meanwhile. */
  readonly spinning: () => number;
  readonly logger: Logger;
  /** now and sleep (default the system clock; tests pass a fake one). */
  readonly clock?: Pick<Clock, 'now' | 'sleep'>;
  /** Checks again for a quiet moment this often (ms; default 5 s). */
  readonly pollMs?: number;
  /** The download (default: http/https with the announced size as its cap). */
  readonly download?: (url: string, file: string, maxBytes: number, signal: AbortSignal) => Promise<{ readonly sha256: string; readonly size: number }>;
  /** How soon an announcement of a version that waits for its health check is looked at again (ms; default 30 s). */
  readonly recheckMs?: number;
  /** Room the data partition keeps beside a bundle (default 64 MiB: the journal and the state must still fit). */
  readonly reserveBytes?: number;
}

export type FollowerState =
  | { readonly state: 'idle' }
  | { readonly state: 'waiting'; readonly version: string; readonly at: number }
  | { readonly state: 'downloading'; readonly version: string }
  | { readonly state: 'requested'; readonly version: string }
  | { readonly state: 'refused'; readonly version: string; readonly reason: string };

const awaitingHealth = (version: string): string => `version ${version} is installed and waits for its health check`;

/** The node's moment in the window: a fraction of it fixed by node id and version. */
export function installMoment(a: Pick<UpdateAnnouncement, 'issuedAt' | 'windowMs' | 'version'>, nodeId: string): number {
  const h = createHash('sha256').update(`${nodeId}\n${a.version}`).digest();
  return a.issuedAt + Math.floor((h.readUInt32BE(0) / 2 ** 32) * a.windowMs);
}

export class AnnouncementFollower {
  readonly #o: FollowerOptions;
  readonly #now: () => number;
  readonly #sleep: Clock['sleep'];
  readonly #stop = new AbortController();
  #state: FollowerState = { state: 'idle' };
  #task: Promise<void> | null = null;
  #current: UpdateAnnouncement | null = null;
  readonly stats = { announcements: 0, refused: 0, requested: 0 };

  constructor(o: FollowerOptions) {
    this.#o = o;
    this.#now = (o.clock ?? systemClock).now;
    this.#sleep = (o.clock ?? systemClock).sleep;
  }

  state(): FollowerState {
    return this.#state;
  }

  /** An announcement the transport parsed under its cap: checked, then followed (a newer one replaces an older). */
  async offer(a: UpdateAnnouncement): Promise<void> {
    this.stats.announcements++;
    try {
      verifyUpdateAnnouncement(a, this.#o.rootKeys?.() ?? this.#o.rootPublicKey, this.#o.network);
    } catch (err) {
      this.stats.refused++;
      this.#o.logger.warn({ err: (err as Error).message }, 'update announcement refused');
      return;
    }
    if (this.#current !== null && this.#current.version === a.version && this.#current.sha256 === a.sha256) return;
    const why = await this.#notForUs(a);
    if (why !== null) {
      this.#o.logger.info({ version: a.version, reason: why }, 'update announcement not taken');
      this.#state = { state: 'refused', version: a.version, reason: why };
      // Installed and not judged yet: the health check of this boot decides soon (kept, rolled
      // back, or an interrupted install to take again), so the announcement is looked at again then.
      if (why === awaitingHealth(a.version)) {
        void this.#sleep(this.#o.recheckMs ?? 30_000, this.#stop.signal).then(() => this.offer(a), () => undefined);
      }
      return;
    }
    this.#current = a;
    const at = installMoment(a, this.#o.nodeId);
    this.#state = { state: 'waiting', version: a.version, at };
    this.#o.logger.info({ version: a.version, at: new Date(at).toISOString() }, 'update announced: installing at this node\'s moment in the window');
    this.#task ??= this.#run().finally(() => { this.#task = null; });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#task;
  }

  async #notForUs(a: UpdateAnnouncement): Promise<string | null> {
    const compatible = await this.#o.compatible();
    if (compatible === null) return 'this system has no A/B slots (no RAUC system config)';
    if (a.compatible !== compatible) return `for ${a.compatible}, this system is ${compatible}`;
    let target: string;
    try {
      target = checkVersion(a.version, 'the announced version');
    } catch (err) {
      return (err as Error).message;
    }
    const running = await this.#o.runningVersion();
    if (compareVersions(target, running) <= 0) return `version ${target} is not newer than the running ${running}`;
    const floor = await this.#o.floor();
    if (floor !== null && compareVersions(target, floor) < 0) return `version ${target} is below this device's floor ${floor}`;
    const pending = await readRequest(this.#o.stateDir).catch(() => null);
    if (pending !== null && pending.target === target) return `version ${target} is already requested`;
    // The announcement stays retained for its window: a version this device already installed and
    // left again must not be taken at every reconnect (an install, a failed boot, a rollback, again).
    // An install a power cut interrupted says nothing against the version: it is taken again.
    const files = new UpdateFiles(this.#o.stateDir);
    const installed = await files.readPending().catch(() => null);
    if (installed !== null && installed.target === target) return awaitingHealth(target);
    const outcome = await files.readOutcome().catch(() => null);
    if (outcome !== null && outcome.kind === 'rolled-back' && outcome.target === target) return `this device already rolled back from ${target} (${outcome.text}); a newer version or \`btn-node update install\` brings it`;
    return null;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const pollMs = this.#o.pollMs ?? 5000;
    while (!signal.aborted && this.#current !== null) {
      const a = this.#current;
      const due = installMoment(a, this.#o.nodeId);
      if (this.#now() < due || this.#o.spinning() > 0) {
        await this.#sleep(Math.min(pollMs, Math.max(10, due - this.#now())), signal);
        continue;
      }
      try {
        await this.#fetch(a, signal);
        if (this.#current === a) this.#current = null;
      } catch (err) {
        if (signal.aborted) return;
        this.stats.refused++;
        const reason = (err as Error).message;
        this.#state = { state: 'refused', version: a.version, reason };
        this.#o.logger.warn({ version: a.version, err: reason }, 'announced update not taken');
        if (this.#current === a) this.#current = null;
      }
    }
  }

  async #fetch(a: UpdateAnnouncement, signal: AbortSignal): Promise<void> {
    const dir = join(this.#o.stateDir, DOWNLOAD_DIR);
    const name = `${a.version}.raucb`;
    // Root removes the download after every install it finishes, and no request waits for one
    // now: what is here was left by an install a power cut interrupted. The announced bundle is
    // kept when its bytes still hash to the signed announcement's (a household's line pays for
    // every download; RAUC checks its signature again anyway); anything else only takes room.
    if ((await readRequest(this.#o.stateDir).catch(() => null)) === null) {
      if (await isAnnouncedBundle(join(dir, name), a)) {
        for (const other of await readdir(dir)) if (other !== name) await rm(join(dir, other), { recursive: true, force: true });
        await this.#request(a, name, 'update bundle left by an interrupted install is the announced one: asked root to install it again, not downloaded again');
        return;
      }
      await rm(dir, { recursive: true, force: true });
    }
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const room = await statfs(dir);
    const free = Number(room.bavail) * Number(room.bsize);
    const reserve = this.#o.reserveBytes ?? 64 * 1024 * 1024;
    if (free < a.size + reserve) throw new UpdateError('ERR_UPDATE_ANNOUNCEMENT', `not enough room for the ${a.size}-byte bundle of ${a.version}: ${free} bytes free on the data partition, ${reserve} kept for the node's state`, {});
    const part = join(dir, `${name}.part`);
    this.#state = { state: 'downloading', version: a.version };
    const got = await (this.#o.download ?? download)(a.url, part, a.size, signal).catch(async (err: unknown) => {
      await rm(part, { force: true });
      throw err;
    });
    if (got.sha256 !== a.sha256 || got.size !== a.size) {
      await rm(part, { force: true });
      throw new UpdateError('ERR_UPDATE_ANNOUNCEMENT', `the bundle at ${a.url} is not the announced one (SHA-256 ${got.sha256.slice(0, 16)}..., ${got.size} bytes; announced ${a.sha256.slice(0, 16)}..., ${a.size} bytes)`, {});
    }
    await rename(part, join(dir, name));
    await this.#request(a, name, 'update downloaded and checked: asked root to install it');
  }

  /** Writes the install request for root (durably, before the state says so). */
  async #request(a: UpdateAnnouncement, name: string, message: string): Promise<void> {
    await writeRequest(this.#o.stateDir, { version: 1, target: a.version, file: name, sha256: a.sha256, size: a.size, at: this.#now() });
    this.stats.requested++;
    this.#state = { state: 'requested', version: a.version };
    this.#o.logger.info({ version: a.version }, message);
  }
}

/** Whether file holds exactly the announced bundle (its size first: a stranger file is not hashed). */
async function isAnnouncedBundle(file: string, a: UpdateAnnouncement): Promise<boolean> {
  const size = await stat(file).then((s) => (s.isFile() ? s.size : -1), () => -1);
  if (size !== a.size) return false;
  const got = await sha256OfFile(file).catch(() => null);
  return got !== null && got.size === a.size && got.sha256 === a.sha256;
}

/** GET url into file, at most maxBytes, hashing on the way; fsynced before it returns. */
export async function download(url: string, file: string, maxBytes: number, signal: AbortSignal): Promise<{ readonly sha256: string; readonly size: number }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsGet : httpGet)(url, { signal, timeout: 30_000 }, resolve);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.on('error', reject);
  });
  if (res.statusCode !== 200) {
    res.resume();
    throw new UpdateError('ERR_UPDATE_ANNOUNCEMENT', `${url}: HTTP ${res.statusCode ?? '?'}`, {});
  }
  const h = createHash('sha256');
  let size = 0;
  const out = createWriteStream(file, { mode: 0o644 });
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw new UpdateError('ERR_UPDATE_ANNOUNCEMENT', `${url} sends more than the ${maxBytes} bytes expected`, {});
      h.update(chunk as Buffer);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  } finally {
    res.destroy();
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { sha256: h.digest('hex'), size };
}
