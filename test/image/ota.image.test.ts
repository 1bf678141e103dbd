// Over-the-air updates of the real image under QEMU (`npm run test:image`), one guest's life, the
// fleet's way: the root signs an announcement on the broker, the node downloads the bundle from a
// host HTTP server (10.0.2.2), root in the guest installs it with RAUC and restarts.
//   v1 (the built image) boots, activates and seals. v2 comes: the same node (node id, one
//   activation at the root, the journal's entries) runs v2 in slot B and seals again. v3 comes and
//   QEMU is killed while RAUC writes it into slot A: restarted on the same disk and TPM, the guest
//   boots v2, is the same node, seals, and says the install did not finish. It takes v3 again by
//   itself (the announcement is retained; the download the cut left is hashed, not fetched
//   again); v3's agent cannot reach the TPM and never becomes healthy: the guest marks it bad,
//   falls back to v2 ("rolled back from 0.3.0: ...") and leaves the announcement from then on. A bundle tampered with after signing and one signed under
//   another CA are refused with RAUC's message; v2 keeps running and sealing.
// What the node says is read from its status page (/status.json through a port forward of port
// 80), what the network says from the root's metrics and the clerks' final blocks.
// The longest test of the image suite (five boots under TCG); BTN_OTA_TEST=0 leaves it out of a
// quick local run. A failed run keeps its work directory: the disk, the TPM state and every
// boot's console with the guest's journal on it.
import { basename, join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { X86_LAYOUT } from '../../image-build/build.ts';
import { devSigningKeys } from '../../image-build/signing-keys.ts';
import { freePort } from '../net.ts';
import { until } from '../until.ts';
import { builtImageDir, readBootFile } from './ab-disk.ts';
import { startBundleServer, type BundleServer } from './bundle-server.ts';
import { guestStatus } from './guest-page.ts';
import { announceUpdate, prepareDisk, startGuestNetwork, type GuestNetwork } from './guest-network.ts';
import { assertImageTrusts, buildBadBundles, buildV2, journalToConsoleOnDisk, V1, V2, V3, V4 } from './ota-bundles.ts';
import { QemuGuest } from './qemu-guest.ts';

const GUEST_NAME = 'btn-ota-test';
/** The health deadline the test sets in btn-node.txt (UPDATE_HEALTH_SECONDS): long enough for a sound slot under TCG, short for the broken one. */
const HEALTH_SECONDS = 90;
/** Room on the "card" beyond the image: the data partition grows into it and holds a downloaded bundle. */
const GROW_MIB = 1536;

let work = '';
let net: GuestNetwork | undefined;
let server: BundleServer | undefined;
let guest: QemuGuest | undefined;
/** A failed run keeps its disk, TPM state and consoles for a look afterwards (BTN_OTA_KEEP=1: every run). */
let keepWork = process.env['BTN_OTA_KEEP'] === '1';
afterAll(async () => {
  await guest?.kill().catch(() => undefined);
  await server?.close();
  await net?.close();
  if (work && !keepWork) await rm(work, { recursive: true, force: true });
});

type Status = Record<string, any>;

/** GRUB's slot variables on the FAT partition (read without the rest of the disk: slot A is half written). */
async function readGrubenv(image: string): Promise<Record<string, string>> {
  const text = await readBootFile(image, X86_LAYOUT, 'grubenv');
  return Object.fromEntries(text.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}
const secs = (ms: number): string => (ms / 1000).toFixed(1);

describe.skipIf(process.env['BTN_OTA_TEST'] === '0')('qemu-x86_64 image, over-the-air updates', () => {
  it('v1 to v2 as the same node; a power cut mid-install boots the old slot; v3 rolls back by itself; tampered and foreign bundles refused', { timeout: 2_400_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-ota-'));
    if (keepWork) console.log(`work directory, kept: ${work}`);
    const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'warn' });
    const log = (line: string): void => {
      console.log(line);
    };
    const keys = await devSigningKeys(() => undefined);
    const imageDir = await builtImageDir(keys.caCert);
    await assertImageTrusts(imageDir, keys.caCert, work);
    const kvm = process.env['BTN_QEMU_ACCEL'] === 'kvm' && existsSync('/dev/kvm');
    net = await startGuestNetwork(join(work, 'net'), logger, 'QEMU-OTA-0001');
    const g = net;
    const image = await prepareDisk(g, imageDir, work, { growMiB: GROW_MIB, extraLines: [`HOSTNAME=${GUEST_NAME}`, `UPDATE_HEALTH_SECONDS=${HEALTH_SECONDS}`] });
    await journalToConsoleOnDisk(image, work);
    // v2 is made while v1 boots, the others while v2 is delivered. Not before the TPM is made and
    // filed: the bundle's gigabytes of writes once held swtpm's fsync past the binding's 60 s.
    const bundleOptions = { imageDir, work: join(work, 'bundles'), keys, log };
    const building = buildV2(bundleOptions);
    building.catch(() => undefined); // awaited below; a failure is reported there
    const pagePort = await freePort();
    const boot = (name: string): Promise<QemuGuest> => QemuGuest.start({ image, tpmState: g.tpmState, work, name, pagePort, kvm });
    guest = await boot('boot1');

    let seen: Status | null = null;
    const status = async (): Promise<Status | null> => {
      const s = await guestStatus(pagePort, `${GUEST_NAME}.local`);
      if (s !== null) seen = s;
      return s;
    };
    /** What a timeout names: the page's last word on what matters here. */
    const lastSeen = (): unknown => seen && { state: seen['state'], activation: seen['activation'], broker: seen['broker']?.connected, software: seen['software'], update: seen['update'], journal: seen['journal'] };
    /** Polls the page until `done` holds; a stuck boot or a dead QEMU fails at once. */
    const waitFor = (what: string, done: (s: Status) => boolean, ms: number): Promise<Status> => until(what, async () => {
      await guest!.check();
      const s = await status();
      return s !== null && done(s) ? s : undefined;
    }, { ms, everyMs: 1000, lastSeen });
    const activations = async (): Promise<{ first: number; again: number }> => {
      const text = await (await fetch(`${g.network.rootUrl}/metrics`)).text();
      // A counter shows no sample until it counts once: its family named with no sample is 0.
      const n = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? (text.includes(`# TYPE ${name} counter`) ? 0 : NaN));
      return { first: n('btn_prov_activations_total'), again: n('btn_prov_reactivations_total') };
    };
    /** The primary draws blocks until one is final with the guest's seal. */
    const seals = async (): Promise<number> => {
      for (let i = 0; i < 6; i++) {
        const [block] = await g.network.produce(1);
        if (block?.final && block.seals.some((x) => x.publicKeyPem === g.sealingKeyPem)) return block.height;
      }
      throw new Error('no final block with the guest\'s seal in 6 tries');
    };
    /** When the page last said it runs a version (host clock: the guest's drifts under TCG). */
    const lastRunning = new Map<string, number>();
    type Followed = { s: Status; since: number; requestedAt: number | null; downAt: number | null };
    /** Follows the node through an update until `done`: when its download was checked and when the guest went down (its restart). */
    const follow = async (version: string, what: string, done: (s: Status) => boolean): Promise<Followed> => {
      const since = Date.now();
      let requestedAt: number | null = null;
      let downAt: number | null = null;
      // A page too busy to answer for a poll or two is not a restart: only a silence of 5 s or more counts.
      let silentSince: number | null = null;
      const s = await until(what, async () => {
        await guest!.check();
        const now = await status();
        if (typeof now?.['software']?.version === 'string') lastRunning.set(now['software'].version, Date.now());
        if (now?.['update']?.state === 'requested' && now['update'].version === version) requestedAt ??= Date.now();
        if (now === null) silentSince ??= Date.now();
        else if (silentSince !== null) {
          if (Date.now() - silentSince >= 5000) downAt = silentSince;
          silentSince = null;
        }
        return now !== null && done(now) ? now : undefined;
      }, { ms: (kvm ? 5 : 15) * 60_000, everyMs: 1000, lastSeen });
      return { s, since, requestedAt, downAt };
    };
    /** The root announces a bundle; then the node is followed until `done`. */
    const deliver = async (version: string, bundle: string, what: string, done: (s: Status) => boolean): Promise<Followed> => {
      await announceUpdate(g, { version, bundle, url: server!.urlFor(bundle) });
      return follow(version, what, done);
    };
    const sameNode = async (s: Status): Promise<void> => {
      expect(s['nodeId']).toBe(g.nodeId);
      expect(s['activation'].state).toBe('active');
      expect(await activations()).toEqual({ first: 1, again: 0 });
    };

    try {
      // ---- v1: the built image, activated and sealing.
      const v1 = await waitFor('v1 to be active and connected', (s) => s['activation']?.state === 'active' && s['broker']?.connected === true, kvm ? 240_000 : 600_000);
      log(`v1 active ${secs(Date.now() - guest.startedAt)} s after QEMU started (${kvm ? 'KVM' : 'TCG'})`);
      expect(v1['software']?.version).toBe(V1);
      await sameNode(v1);
      const h1 = await seals();
      const before = (await waitFor('the journal to hold the seal', (s) => s['journal']?.highestHeight >= h1, 60_000))['journal'] as { entries: number; highestHeight: number };
      log(`v1 sealed block ${h1}; its journal holds ${before.entries} entries up to height ${before.highestHeight}`);

      const { v2: v2Bundle, rootfs } = await building;
      const buildingBad = buildBadBundles(bundleOptions, rootfs);
      buildingBad.catch(() => undefined); // awaited below
      server = await startBundleServer([v2Bundle.bundle]);
      const served = (file: string): number => server!.requests.filter((r) => r === basename(file)).length;

      // ---- v2: downloaded, installed into slot B, restarted into, kept.
      const up2 = await deliver(V2, v2Bundle.bundle, 'v2 to run and be kept', (s) => s['software']?.version === V2 && s['software'].slot === 'B' && s['software'].lastUpdate?.text === `updated to ${V2}`);
      const v2 = up2.s;
      log(`v2: bundle ${(v2Bundle.bytes / 1e6).toFixed(1)} MB; downloaded and checked ${up2.requestedAt ? secs(up2.requestedAt - up2.since) : '?'} s after the announcement, `
        + `installed and restarting ${up2.requestedAt && up2.downAt ? secs(up2.downAt - up2.requestedAt) : '?'} s after that, `
        + `marked good ${up2.downAt ? secs(v2['software'].lastUpdate.at - up2.downAt) : '?'} s after the restart (guest clock; ${kvm ? 'KVM' : 'TCG'})`);
      // Slot A holds v1, which RAUC never installed: it knows no version of it.
      expect(v2['software']).toMatchObject({ version: V2, slot: 'B', other: { slot: 'A' } });
      await sameNode(v2);
      // The journal's entries all there (no block was made since: nothing could be compacted).
      expect(v2['journal'].entries).toBeGreaterThanOrEqual(before.entries);
      expect(v2['journal'].highestHeight).toBeGreaterThanOrEqual(before.highestHeight);
      log(`v2 sealed block ${await seals()}`);

      const bundles = { v2: v2Bundle, ...(await buildingBad) };
      for (const b of [bundles.v3.bundle, bundles.tampered, bundles.otherKey]) server.serve(b);

      // ---- v3, and a power cut while RAUC writes it into slot A.
      const written = await guest.writtenBytes();
      await announceUpdate(g, { version: V3, bundle: bundles.v3.bundle, url: server.urlFor(bundles.v3.bundle) });
      // The download writes the bundle to the data partition; RAUC then writes the slot image: cut halfway in.
      const cutMiB = Math.floor(bundles.v3.imageBytes / 2 / 2 ** 20);
      const cutAt = written + bundles.v3.bytes + cutMiB * 2 ** 20;
      await until('RAUC to be writing slot A', async () => {
        await guest!.check();
        return (await guest!.writtenBytes()) > cutAt;
      }, { ms: (kvm ? 5 : 15) * 60_000, everyMs: 250, lastSeen });
      await guest.kill();
      const grubenv = await readGrubenv(image);
      log(`QEMU killed ${cutMiB} MiB into the install of ${V3} (a ${(bundles.v3.imageBytes / 2 ** 20).toFixed(0)} MiB slot image); grubenv ${JSON.stringify(grubenv)}`);
      expect(grubenv).toMatchObject({ ORDER: 'B A', B_OK: '1' }); // GRUB boots B first, as before
      guest = await boot('boot2');
      const cut = await waitFor('the guest to come back on v2 after the power cut', (s) => s['software']?.slot === 'B' && String(s['software'].lastUpdate?.text).startsWith(`rolled back from ${V3}: `), kvm ? 300_000 : 600_000);
      log(`after the power cut: "${cut['software'].lastUpdate.text}", ${secs(Date.now() - guest.startedAt)} s after QEMU started`);
      expect(cut['software'].lastUpdate.text).toMatch(/^rolled back from 0\.3\.0: the install did not finish/);
      expect(cut['software']).toMatchObject({ version: V2, slot: 'B' });
      await sameNode(cut);
      log(`v2 sealed block ${await seals()} after the power cut`);

      // ---- v3 again, by itself (the announcement is retained): its agent never becomes healthy, and the guest goes back to v2 by itself.
      const up3 = await follow(V3, 'v3 to be installed again and rolled back', (s) => s['software']?.version === V2 && s['software'].other?.version === V3 && /^rolled back from 0\.3\.0: (?!the install did not finish)/.test(String(s['software'].lastUpdate?.text)));
      const v3 = up3.s;
      const v3Seen = lastRunning.get(V3);
      log(`v3: "${v3['software'].lastUpdate.text}", its page answering on v2 ${v3Seen === undefined ? '? (v3\'s page never answered)' : `${secs(Date.now() - v3Seen)} s after it last answered on v3`}`);
      expect(v3['software'].lastUpdate.text).toMatch(new RegExp(`^rolled back from ${V3.replace(/\./g, '\\.')}: .+ \\(after ${HEALTH_SECONDS} s\\)$`));
      expect(v3['software']).toMatchObject({ version: V2, slot: 'B', other: { slot: 'A', version: V3 } });
      await sameNode(v3);
      // The v3 announcement is still retained: the node sees it again at its reconnect and leaves it.
      const left = await waitFor('v2 to leave the retained v3 announcement', (s) => s['update']?.state === 'refused', 120_000);
      expect(left['update']).toMatchObject({ version: V3, reason: expect.stringMatching(/^this device already rolled back from 0\.3\.0/) as unknown });

      // ---- bundles RAUC refuses: the outcome is RAUC's message, v2 runs on.
      const refused = async (bundle: string, what: string, previous: string): Promise<string> => {
        const agent = (await status())!;
        const r = await deliver(V4, bundle, what, (s) => String(s['software']?.lastUpdate?.text).startsWith(`update to ${V4} not installed: `) && s['software'].lastUpdate.text !== previous);
        expect([r.s['pid'], r.s['startedAt']]).toEqual([agent['pid'], agent['startedAt']]); // the same agent: never restarted
        expect(r.s['software']).toMatchObject({ version: V2, slot: 'B' });
        return r.s['software'].lastUpdate.text as string;
      };
      const tampered = await refused(bundles.tampered, 'the tampered bundle to be refused', '');
      log(`tampered: "${tampered}"`);
      const foreign = await refused(bundles.otherKey, 'the bundle signed under another CA to be refused', tampered);
      log(`another CA: "${foreign}"`);
      expect(foreign).toMatch(/signature verification failed/);
      await sameNode((await status())!);
      log(`v2 sealed block ${await seals()} after the refusals`);
      // Each bundle fetched once: v3's download, left on the data partition by the power cut, was
      // hashed again and installed again without a second download; nothing more was taken from a
      // retained announcement.
      expect([v2Bundle.bundle, bundles.v3.bundle, bundles.tampered, bundles.otherKey].map(served)).toEqual([1, 1, 1, 1]);
    } catch (err) {
      keepWork = true;
      const grubenv = await readGrubenv(image).catch((e: Error) => e.message);
      throw new Error(`${(err as Error).message}\n--- grubenv now: ${JSON.stringify(grubenv)}; consoles and disk kept in ${work} ---\n${await guest.tail()}`);
    }
  });
});
