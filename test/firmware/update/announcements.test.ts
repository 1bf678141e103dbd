// The fleet's update path: the root-signed announcement (format, signature, refusals), the node's
// follower (its moment in the window, never while spinning, the download bounded and hashed from a
// real HTTP server, the install request written), and root's apply-request with RAUC scripted
// (the file hashed again, installed, request and download gone, a refusal recorded as the outcome).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { updateAnnouncementMessage, verifyUpdateAnnouncement, type UpdateAnnouncement } from '../../../firmware/protocol/update-announcement.ts';
import { AnnouncementFollower, applyRequest, DOWNLOAD_DIR, installMoment, readRequest, REQUEST_FILE, type FollowerOptions } from '../../../firmware/update/index.ts';
import { updateCommand } from '../../../firmware/cli/update-command.ts';
import { installFromUrl } from '../../../firmware/update/install-url.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { signAnnouncement } from '../../../provisioning/cli/update-command.ts';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import { fakeDevice, raucCalls } from './fake-device.ts';
import { UpdateFiles } from '../../../firmware/update/state-files.ts';

const root = generateEd25519().key;
const BUNDLE = Buffer.from('a signed RAUC bundle, for the test'.repeat(100));
const SHA = createHash('sha256').update(BUNDLE).digest('hex');
let server: Server;
let base = '';
let dir = '';
const served = { path: '' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-update-ann-'));
  server = createServer((req, res) => {
    served.path = req.url ?? '';
    const body = { '/bundle': BUNDLE, '/other': Buffer.concat([BUNDLE.subarray(1), Buffer.from('x')]), '/longer': Buffer.concat([BUNDLE, Buffer.from('more')]) }[req.url ?? ''];
    if (body === undefined) res.statusCode = 404;
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

const announce = (over: Partial<Parameters<typeof signAnnouncement>[1]> = {}): UpdateAnnouncement => signAnnouncement(root, {
  network: 'mainnet', version: '0.3.0', compatible: 'btn-node-qemu-x86_64', url: `${base}/bundle`, sha256: SHA, size: BUNDLE.length, issuedAt: 1_000_000, windowMs: 3600_000, ...over,
});

let n = 0;
async function follower(over: Partial<FollowerOptions> = {}): Promise<{ f: AnnouncementFollower; stateDir: string; clock: ManualClock; spinning: { n: number } }> {
  const stateDir = join(dir, `node${++n}`);
  await mkdir(stateDir);
  const clock = new ManualClock(1_000_000);
  const spinning = { n: 0 };
  const f = new AnnouncementFollower({
    stateDir, nodeId: `node-${n}`, network: 'mainnet', rootPublicKey: root.publicKey, logger: pino({ level: 'silent' }),
    compatible: () => Promise.resolve('btn-node-qemu-x86_64'), runningVersion: () => Promise.resolve('0.2.0'), floor: () => Promise.resolve(null),
    spinning: () => spinning.n, clock, pollMs: 1000, ...over,
  });
  return { f, stateDir, clock, spinning };
}

async function until(what: string, check: () => boolean | Promise<boolean>, clock: ManualClock, stepMs = 60_000): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await clock.advance(stepMs, Math.max(10, stepMs / 20));
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never: ${what}`);
}

describe('update announcement', () => {
  it('verifies under the root key for its network; any change, another key or network is refused', () => {
    const a = announce();
    expect(() => verifyUpdateAnnouncement(a, root.publicKey, 'mainnet')).not.toThrow();
    expect(() => verifyUpdateAnnouncement(a, root.publicKey, 'testnet')).toThrow(/network "mainnet", this node is on "testnet"/);
    expect(() => verifyUpdateAnnouncement({ ...a, url: `${base}/other` }, root.publicKey, 'mainnet')).toThrow(/does not verify/);
    expect(() => verifyUpdateAnnouncement({ ...a, windowMs: 0 }, root.publicKey, 'mainnet')).toThrow(/does not verify/);
    expect(() => verifyUpdateAnnouncement(a, generateEd25519().key.publicKey, 'mainnet')).toThrow(/does not verify/);
    // The shape as the transport reads it: bounded, exact, http(s) only, no credentials in the URL.
    expect(updateAnnouncementMessage.read(JSON.parse(JSON.stringify(a)))).toEqual(a);
    expect(() => updateAnnouncementMessage.read({ ...a, url: 'file:///etc/shadow' })).toThrow(/http or https/);
    expect(() => updateAnnouncementMessage.read({ ...a, url: 'https://u:p@example.com/b' })).toThrow(/no credentials/);
    expect(() => updateAnnouncementMessage.read({ ...a, extra: 1 })).toThrow();
    expect(() => updateAnnouncementMessage.read({ ...a, windowMs: 8 * 24 * 3600_000 })).toThrow(/windowMs/);
    expect(updateAnnouncementMessage.maxBytes).toBe(8192);
  });

  it('each node has its own moment in the window, the same after a restart', () => {
    const a = announce();
    const moments = Array.from({ length: 200 }, (_, i) => installMoment(a, `node-${i}`));
    expect(moments.every((m) => m >= a.issuedAt && m < a.issuedAt + a.windowMs)).toBe(true);
    expect(new Set(moments).size).toBeGreaterThan(190);
    expect(installMoment(a, 'node-7')).toBe(installMoment(a, 'node-7'));
    // Spread: each quarter of the window has some nodes.
    for (let q = 0; q < 4; q++) expect(moments.filter((m) => Math.floor(((m - a.issuedAt) / a.windowMs) * 4) === q).length).toBeGreaterThan(20);
  });
});

describe('the node follows an announcement', () => {
  it('waits for its moment and a moment without spinning, downloads, checks and asks root to install', async () => {
    const { f, stateDir, clock, spinning } = await follower();
    const a = announce();
    spinning.n = 1;
    await f.offer(a);
    expect(f.state()).toMatchObject({ state: 'waiting', version: '0.3.0', at: installMoment(a, 'node-1') });
    await clock.advance(a.windowMs, 60_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(await readRequest(stateDir)).toBeNull(); // still spinning on a block: nothing downloaded
    spinning.n = 0;
    // The request is written durably first and the state says so after it: wait for both.
    await until('the request', async () => (await readRequest(stateDir)) !== null && f.state().state === 'requested', clock, 1000);
    expect(await readRequest(stateDir)).toMatchObject({ version: 1, target: '0.3.0', file: '0.3.0.raucb', sha256: SHA, size: BUNDLE.length });
    expect(await readFile(join(stateDir, DOWNLOAD_DIR, '0.3.0.raucb'))).toEqual(BUNDLE);
    expect(f.state()).toEqual({ state: 'requested', version: '0.3.0' });
    // The same announcement again (retained, after a reconnect): nothing new.
    await f.offer(a);
    expect(f.stats).toMatchObject({ announcements: 2, requested: 1 });
    await f.stop();
  });

  it('refuses what is not signed by the root, not for its board, not newer, below its floor', async () => {
    const { f, stateDir } = await follower({ floor: () => Promise.resolve('0.5.0') });
    served.path = '';
    const forged = { ...announce(), signature: announce({ version: '9.9.9' }).signature };
    await f.offer(forged);
    expect(f.stats.refused).toBe(1);
    await f.offer(announce({ compatible: 'btn-node-rpi4' }));
    expect(f.state()).toMatchObject({ state: 'refused', reason: 'for btn-node-rpi4, this system is btn-node-qemu-x86_64' });
    await f.offer(announce({ version: '0.2.0' }));
    expect(f.state()).toMatchObject({ state: 'refused', reason: 'version 0.2.0 is not newer than the running 0.2.0' });
    await f.offer(announce({ version: '0.4.0' }));
    expect(f.state()).toMatchObject({ state: 'refused', reason: "version 0.4.0 is below this device's floor 0.5.0" });
    const none = await follower({ compatible: () => Promise.resolve(null) });
    await none.f.offer(announce());
    expect(none.f.state()).toMatchObject({ state: 'refused', reason: 'this system has no A/B slots (no RAUC system config)' });
    expect(served.path).toBe('');
    expect(await readRequest(stateDir)).toBeNull();
    await f.stop();
  });

  it('a version this device installed and rolled back from is not taken again while its announcement stays retained; an interrupted one is', async () => {
    const { f, stateDir } = await follower();
    served.path = '';
    const files = new UpdateFiles(stateDir);
    await files.writeOutcome({ version: 1, kind: 'rolled-back', text: 'rolled back from 0.3.0: the TPM was not readable', target: '0.3.0', from: '0.2.0', at: 2 });
    await f.offer(announce());
    expect(f.state()).toMatchObject({ state: 'refused', reason: expect.stringMatching(/^this device already rolled back from 0\.3\.0 \(rolled back from 0\.3\.0: the TPM/) as unknown });
    // A newer version is taken.
    await f.offer(announce({ version: '0.3.1' }));
    expect(f.state()).toMatchObject({ state: 'waiting', version: '0.3.1' });
    await f.stop();
    expect(served.path).toBe('');

    // Installed, the restart not judged yet (the agent of the new slot connects before its health check is done): left for now.
    const again = await follower({ recheckMs: 30_000 });
    const againFiles = new UpdateFiles(again.stateDir);
    await againFiles.writePending({ version: 1, target: '0.3.0', from: { version: '0.2.0', slot: 'B' }, bootId: 'b1', nodeId: 'node-1', activation: 'active', journal: null, at: 1 });
    await again.f.offer(announce());
    expect(again.f.state()).toMatchObject({ state: 'refused', reason: 'version 0.3.0 is installed and waits for its health check' });
    // The health check found the install interrupted by a power cut: the announcement, looked at again, is taken.
    await againFiles.removePending();
    await againFiles.writeOutcome({ version: 1, kind: 'interrupted', text: 'rolled back from 0.3.0: the install did not finish (slot A was being written)', target: '0.3.0', from: '0.2.0', at: 2 });
    await until('the announcement looked at again', () => again.f.state().state !== 'refused', again.clock, 10_000);
    expect(again.f.state()).toMatchObject({ version: '0.3.0' });
    expect(again.f.stats.announcements).toBe(2);
    await again.f.stop();
  });

  it('a bundle that is not the announced one (other bytes, longer), a missing one, or no room: no request, no file left', async () => {
    for (const [path, reason] of [['/other', /is not the announced one/], ['/longer', /sends more than the \d+ bytes expected/], ['/missing', /HTTP 404/]] as const) {
      const { f, stateDir, clock } = await follower();
      await f.offer(announce({ url: `${base}${path}` }));
      await until('refused', () => f.state().state === 'refused', clock);
      expect((f.state() as { reason: string }).reason).toMatch(reason);
      expect(await readRequest(stateDir)).toBeNull();
      expect(await readdir(join(stateDir, DOWNLOAD_DIR))).toEqual([]);
      await f.stop();
    }
    const { f, clock } = await follower({ reserveBytes: Number.MAX_SAFE_INTEGER });
    await f.offer(announce());
    await until('refused', () => f.state().state === 'refused', clock);
    expect((f.state() as { reason: string }).reason).toMatch(/not enough room for the \d+-byte bundle/);
    await f.stop();
  });
});

describe("root's apply-request", () => {
  async function requested(bytes: Buffer): Promise<string> {
    const stateDir = join(dir, `apply${++n}`);
    await mkdir(join(stateDir, DOWNLOAD_DIR), { recursive: true });
    await writeFile(join(stateDir, DOWNLOAD_DIR, '0.3.0.raucb'), bytes);
    await writeFile(join(stateDir, REQUEST_FILE), JSON.stringify({ version: 1, target: '0.3.0', file: '0.3.0.raucb', sha256: SHA, size: BUNDLE.length, at: 1 }));
    return stateDir;
  }

  it('hashes the file again, installs it, removes request and download, restarts', async () => {
    const stateDir = await requested(BUNDLE);
    const d = fakeDevice(stateDir);
    const done = await applyRequest(d.deps, stateDir, { reboot: true });
    expect(done).toMatchObject({ target: '0.3.0' });
    expect(raucCalls(d)).toContain('install');
    expect(d.reboots).toHaveLength(1);
    expect(await readRequest(stateDir)).toBeNull();
    expect(await readdir(stateDir)).not.toContain(DOWNLOAD_DIR);
    expect(await applyRequest(d.deps, stateDir, { reboot: true })).toBeNull();
  });

  it('takes the request before RAUC writes anything: a power cut during the install does not start it again at the next boot', async () => {
    const stateDir = await requested(BUNDLE);
    const d = fakeDevice(stateDir);
    const install = d.deps.rauc.install.bind(d.deps.rauc);
    const atInstall: unknown[] = [];
    vi.spyOn(d.deps.rauc, 'install').mockImplementation(async (file: string) => {
      atInstall.push(await readRequest(stateDir));
      return install(file);
    });
    expect(await applyRequest(d.deps, stateDir, { reboot: false })).toMatchObject({ target: '0.3.0' });
    expect(atInstall).toEqual([null]);
  });

  it('a bundle a power cut left in the download directory is removed before the next download', async () => {
    const { f, stateDir, clock } = await follower();
    await mkdir(join(stateDir, DOWNLOAD_DIR), { recursive: true });
    await writeFile(join(stateDir, DOWNLOAD_DIR, '0.2.9.raucb'), BUNDLE);
    await f.offer(announce());
    await until('the request', async () => (await readRequest(stateDir)) !== null, clock);
    expect(await readdir(join(stateDir, DOWNLOAD_DIR))).toEqual(['0.3.0.raucb']);
    await f.stop();
  });

  it('the announced bundle a power cut left is asked for again without a download; one with other bytes is downloaded again', async () => {
    const left = async (bytes: Buffer): Promise<{ stateDir: string; clock: ManualClock; f: AnnouncementFollower }> => {
      const { f, stateDir, clock } = await follower();
      await mkdir(join(stateDir, DOWNLOAD_DIR), { recursive: true });
      await writeFile(join(stateDir, DOWNLOAD_DIR, '0.3.0.raucb'), bytes);
      await writeFile(join(stateDir, DOWNLOAD_DIR, '0.3.0.raucb.part'), 'half a download');
      return { f, stateDir, clock };
    };
    served.path = '';
    const same = await left(BUNDLE);
    await same.f.offer(announce());
    await until('the request', async () => (await readRequest(same.stateDir)) !== null && same.f.state().state === 'requested', same.clock);
    expect(served.path).toBe(''); // nothing fetched
    expect(await readRequest(same.stateDir)).toMatchObject({ target: '0.3.0', file: '0.3.0.raucb', sha256: SHA, size: BUNDLE.length });
    expect(await readdir(join(same.stateDir, DOWNLOAD_DIR))).toEqual(['0.3.0.raucb']);
    expect(same.f.stats).toMatchObject({ requested: 1 });
    await same.f.stop();

    // The same size, one byte changed: not the announced bundle, so it is fetched again.
    const changed = Buffer.from(BUNDLE);
    changed[0] = changed[0]! ^ 1;
    const other = await left(changed);
    await other.f.offer(announce());
    await until('the request', async () => (await readRequest(other.stateDir)) !== null && other.f.state().state === 'requested', other.clock);
    expect(served.path).toBe('/bundle');
    expect(await readFile(join(other.stateDir, DOWNLOAD_DIR, '0.3.0.raucb'))).toEqual(BUNDLE);
    await other.f.stop();
  });

  it('a file changed after the agent checked it is not installed; the outcome says why; nothing is left to retry forever', async () => {
    const stateDir = await requested(Buffer.concat([BUNDLE.subarray(1), Buffer.from('!')]));
    const d = fakeDevice(stateDir);
    const lines: string[] = [];
    await expect(updateCommand(['apply-request', '--state-dir', stateDir], { out: (t) => lines.push(t), deps: () => d.deps })).rejects.toThrow(/is not the announced bundle/);
    expect(raucCalls(d)).not.toContain('install');
    expect(d.reboots).toEqual([]);
    const outcome = JSON.parse(await readFile(join(stateDir, 'update-outcome.json'), 'utf8')) as { kind: string; text: string };
    expect(outcome).toMatchObject({ kind: 'refused' });
    expect(outcome.text).toMatch(/^update to 0\.3\.0 not installed: .*is not the announced bundle/);
    expect(await readRequest(stateDir)).toBeNull();
  });
});

describe('btn-node update install URL', () => {
  it('downloads into the data partition, installs it as a file (RAUC checks it), and leaves no download behind', async () => {
    const stateDir = join(dir, `url${++n}`);
    await mkdir(stateDir);
    const d = fakeDevice(stateDir);
    const lines: string[] = [];
    expect(await updateCommand(['install', `${base}/bundle`, '--state-dir', stateDir], { out: (t) => lines.push(t), deps: () => d.deps })).toBe(0);
    expect(lines.join('')).toMatch(/^installed 0\.3\.0 into the other slot/);
    const info = d.calls.find((c) => c.args[1] === 'info')!.args;
    expect(info.at(-1)).toBe(join(stateDir, DOWNLOAD_DIR, 'manual.raucb'));
    expect(raucCalls(d)).toContain('install');
    expect(await readdir(join(stateDir, DOWNLOAD_DIR))).toEqual([]);
  });

  it('a missing bundle, one larger than allowed, or a URL that is not http(s): nothing installed, nothing left', async () => {
    const stateDir = join(dir, `url${++n}`);
    await mkdir(stateDir);
    const d = fakeDevice(stateDir);
    await expect(installFromUrl(d.deps, stateDir, `${base}/missing`, {})).rejects.toThrow(/HTTP 404/);
    await expect(installFromUrl(d.deps, stateDir, `${base}/bundle`, { maxBytes: 100 })).rejects.toThrow(/sends more than the 100 bytes expected/);
    await expect(installFromUrl(d.deps, stateDir, 'ftp://example.com/b.raucb', {})).rejects.toThrow(/http or https, not ftp:/);
    await expect(installFromUrl(d.deps, stateDir, 'https://u:p@example.com/b.raucb', {})).rejects.toThrow(/no credentials/);
    expect(raucCalls(d)).not.toContain('install');
    expect(await readdir(join(stateDir, DOWNLOAD_DIR))).toEqual([]);
  });
});
