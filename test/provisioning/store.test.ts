// One contract suite, run against both stores: SQLite in a temp file and PostgreSQL at
// BTN_PG_URL (each run in a fresh schema, dropped afterwards).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../provisioning/store/index.ts';
import type { BatchInput, NewDevice, ProvisioningStore } from '../../provisioning/store/index.ts';

const PG_URL = process.env['BTN_PG_URL'];
// In CI the PostgreSQL half must run: a missing server is a failure there, not a skipped half.
if (PG_URL === undefined && process.env['CI']) throw new Error('store contract: CI is set but BTN_PG_URL is not: PostgreSQL was not started (.ci/run starts it)');
if (PG_URL === undefined) console.warn('store contract: BTN_PG_URL is not set; SKIPPING the PostgreSQL half (CI sets it)');

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

function device(i: number, extra: Partial<NewDevice> = {}): NewDevice {
  return {
    ekName: sha(`ek ${i}`), nodeId: sha(`node ${i}`), ekPublic: new Uint8Array(randomBytes(300)),
    ekCertificate: new Uint8Array(randomBytes(900)), sealingPublic: Uint8Array.from(Buffer.from(sha(`seal ${i}`), 'hex')),
    serial: `SN-${i}`, board: 'rpi4', ...extra,
  };
}

function batch(id: string, manufacturer = 'acme', lineCount = 0): BatchInput {
  return { id, manufacturer, manifestSha256: sha(id), signature: new Uint8Array(64), lineCount, rejected: 0, uploadedAt: 1_000 };
}

interface Backend { name: string; open: () => Promise<{ store: ProvisioningStore; reopen: () => Promise<ProvisioningStore>; cleanup: () => Promise<void> }> }

const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'btn-prov-store-'));
      const url = `sqlite:${join(dir, 'p.db')}`;
      return { store: await openStore(url), reopen: () => openStore(url), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
];
if (PG_URL !== undefined) {
  backends.push({
    name: 'postgres',
    open: async () => {
      const schema = `btn_test_${process.pid}_${randomBytes(4).toString('hex')}`;
      return {
        store: await openStore(PG_URL, { schema }),
        reopen: () => openStore(PG_URL, { schema }),
        cleanup: async () => {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await c.end();
        },
      };
    },
  });
}

describe.each(backends)('provisioning store contract: $name', (backend) => {
  let store: ProvisioningStore;
  let reopen: () => Promise<ProvisioningStore>;
  let cleanup: () => Promise<void>;
  const pub = new Uint8Array(32).fill(7);

  beforeAll(async () => {
    ({ store, reopen, cleanup } = await backend.open());
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  it('migrations apply once and reopening is a no-op', async () => {
    const again = await reopen();
    await again.ping();
    await again.close();
  });

  it('manufacturers: add, idempotent re-add, conflict on another key', async () => {
    expect(await store.addManufacturer({ name: 'acme', publicKey: pub, createdAt: 1 })).toBe('added');
    expect(await store.addManufacturer({ name: 'acme', publicKey: pub, createdAt: 2 })).toBe('exists');
    await expect(store.addManufacturer({ name: 'acme', publicKey: new Uint8Array(32), createdAt: 3 })).rejects.toMatchObject({ code: 'ERR_PROV_MANUFACTURER_CONFLICT' });
    const m = await store.getManufacturer('acme');
    expect(m?.publicKey).toEqual(pub);
    expect(await store.getManufacturer("x' OR '1'='1")).toBeNull();
    expect((await store.listManufacturers()).map((x) => x.name)).toEqual(['acme']);
  });

  it('files a batch; re-filing is idempotent, other data for the same EK or sealing key conflicts', async () => {
    const devs = [device(1), device(2), device(3)];
    expect(await store.fileBatch(batch('b1', 'acme', 3), devs)).toEqual(['filed', 'filed', 'filed']);
    const b = await store.getBatch('b1');
    expect(b).toMatchObject({ manufacturer: 'acme', lineCount: 3, filed: 3, duplicates: 0, conflicts: 0 });
    // same device again; same EK with another serial; another EK with an already filed sealing key
    const again = [devs[0]!, { ...devs[1]!, serial: 'OTHER' }, { ...device(9), nodeId: devs[2]!.nodeId }];
    expect(await store.fileBatch(batch('b2', 'acme', 3), again)).toEqual(['duplicate', 'conflict', 'conflict']);
    expect((await store.getBatch('b2'))).toMatchObject({ filed: 0, duplicates: 1, conflicts: 2 });
    const d = await store.getDevice(devs[1]!.ekName);
    expect(d).toMatchObject({ serial: 'SN-2', state: 'filed', batchId: 'b1', manufacturer: 'acme', certificate: null, activatedAt: null });
    expect(d?.ekCertificate).toEqual(devs[1]!.ekCertificate);
    expect((await store.getNode(devs[2]!.nodeId))?.ekName).toBe(devs[2]!.ekName);
    expect(await store.getDevice("'; DROP TABLE devices; --")).toBeNull();
    expect(await store.countDevices()).toEqual({ filed: 3, active: 0, revoked: 0 });
  });

  it('a batch from an unknown manufacturer fails and files nothing', async () => {
    await expect(store.fileBatch(batch('b3', 'nobody', 1), [device(50)])).rejects.toMatchObject({ code: 'ERR_PROV_STORE' });
    expect(await store.getDevice(device(50).ekName)).toBeNull();
    expect(await store.getBatch('b3')).toBeNull();
  });

  it('files 5,000 devices in one call', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => device(1000 + i));
    const out = await store.fileBatch(batch('big', 'acme', many.length), many);
    expect(out.every((o) => o === 'filed')).toBe(true);
    expect((await store.countDevices()).filed).toBe(5003);
    const page = await store.listDevices({ limit: 10 });
    expect(page).toHaveLength(10);
    const next = await store.listDevices({ limit: 10, after: page[9]!.nodeId });
    expect(next[0]!.nodeId > page[9]!.nodeId).toBe(true);
  });

  it('activation: wrong proof, success, replay, expiry change nothing they should not', async () => {
    const d = device(1);
    const secretHash = Uint8Array.from(createHash('sha256').update('secret').digest());
    await store.createChallenge({ id: 'c1', ekName: d.ekName, secretHash, createdAt: 10, expiresAt: 1000, usedAt: null, generation: 0 });
    await store.createChallenge({ id: 'c2', ekName: d.ekName, secretHash, createdAt: 10, expiresAt: 50, usedAt: null, generation: 0 });
    expect(await store.completeActivation({ challengeId: 'nope', secretHash, ekName: d.ekName, certificate: '{}', now: 20 })).toEqual({ ok: false, reason: 'challenge-unknown' });
    expect(await store.completeActivation({ challengeId: 'c1', secretHash: new Uint8Array(32), ekName: d.ekName, certificate: '{}', now: 20 })).toEqual({ ok: false, reason: 'bad-proof' });
    expect(await store.completeActivation({ challengeId: 'c2', secretHash, ekName: d.ekName, certificate: '{}', now: 60 })).toEqual({ ok: false, reason: 'challenge-expired' });
    expect((await store.getDevice(d.ekName))?.state).toBe('filed');
    expect((await store.getChallenge('c1'))?.usedAt).toBeNull();
    expect(await store.completeActivation({ challengeId: 'c1', secretHash, ekName: d.ekName, certificate: '{"a":1}', now: 20 })).toEqual({ ok: true, brokerGeneration: 1, reactivated: false });
    expect(await store.completeActivation({ challengeId: 'c1', secretHash, ekName: d.ekName, certificate: '{"a":2}', now: 21 })).toEqual({ ok: false, reason: 'challenge-used' });
    const active = await store.getDevice(d.ekName);
    expect(active).toMatchObject({ state: 'active', certificate: '{"a":1}', activatedAt: 20, brokerGeneration: 1 });
    expect((await store.getChallenge('c1'))?.usedAt).toBe(20);
    // Re-activation (lost state, renewal): a fresh challenge completes again, renews the
    // certificate and counts the broker generation up; the first activation time stays.
    await store.createChallenge({ id: 'c3', ekName: d.ekName, secretHash, createdAt: 30, expiresAt: 1000, usedAt: null, generation: 1 });
    // A challenge issued before the last activation answers for a state that is gone.
    await store.createChallenge({ id: 'c4', ekName: d.ekName, secretHash, createdAt: 30, expiresAt: 1000, usedAt: null, generation: 1 });
    expect(await store.completeActivation({ challengeId: 'c3', secretHash, ekName: d.ekName, certificate: '{"a":3}', now: 40 })).toEqual({ ok: true, brokerGeneration: 2, reactivated: true });
    expect(await store.getDevice(d.ekName)).toMatchObject({ state: 'active', certificate: '{"a":3}', activatedAt: 20, brokerGeneration: 2 });
    expect(await store.completeActivation({ challengeId: 'c3', secretHash, ekName: d.ekName, certificate: '{"a":4}', now: 41 })).toEqual({ ok: false, reason: 'challenge-used' });
    expect(await store.completeActivation({ challengeId: 'c4', secretHash, ekName: d.ekName, certificate: '{"a":5}', now: 42 })).toEqual({ ok: false, reason: 'superseded' });
    expect((await store.getChallenge('c4'))?.usedAt).toBeNull();
    expect(await store.getDevice(d.ekName)).toMatchObject({ certificate: '{"a":3}', brokerGeneration: 2 });
  });

  it('concurrent writes: a failing one (duplicate challenge id) fails alone', async () => {
    const d = device(1);
    const h = new Uint8Array(32);
    const ids = ['g1', 'g2', 'g1', 'g3'];
    const results = await Promise.allSettled(ids.map((id) => store.createChallenge({ id, ekName: d.ekName, secretHash: h, createdAt: 1, expiresAt: 2, usedAt: null, generation: 0 })));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_PROV_STORE' });
    for (const id of ['g1', 'g2', 'g3']) expect((await store.getChallenge(id))?.id).toBe(id);
  });

  it('prunes expired challenges only', async () => {
    const d = device(1);
    await store.createChallenge({ id: 'old', ekName: d.ekName, secretHash: new Uint8Array(32), createdAt: 1, expiresAt: 100, usedAt: null, generation: 0 });
    await store.createChallenge({ id: 'new', ekName: d.ekName, secretHash: new Uint8Array(32), createdAt: 1, expiresAt: 10_000_000, usedAt: null, generation: 0 });
    expect(await store.pruneChallenges(101)).toBeGreaterThanOrEqual(1);
    expect(await store.getChallenge('old')).toBeNull();
    expect((await store.getChallenge('new'))?.id).toBe('new');
  });

  it('two concurrent activations of one TPM: exactly one completes; the other answers for a state that is gone', async () => {
    const d = device(2);
    const h = Uint8Array.from(createHash('sha256').update('s2').digest());
    await store.createChallenge({ id: 'k1', ekName: d.ekName, secretHash: h, createdAt: 1, expiresAt: 10_000, usedAt: null, generation: 0 });
    await store.createChallenge({ id: 'k2', ekName: d.ekName, secretHash: h, createdAt: 1, expiresAt: 10_000, usedAt: null, generation: 0 });
    const results = await Promise.all(['k1', 'k2'].map((id) => store.completeActivation({ challengeId: id, secretHash: h, ekName: d.ekName, certificate: id, now: 5 })));
    expect(results.filter((r) => r.ok)).toEqual([{ ok: true, brokerGeneration: 1, reactivated: false }]);
    expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'superseded' }]);
    expect((await store.getDevice(d.ekName))?.brokerGeneration).toBe(1);
  });

  it('revocation: versioned list, idempotent, unknown node, revoked TPM cannot activate', async () => {
    expect(await store.revocations()).toEqual({ version: 0, entries: [] });
    const d3 = device(3);
    expect(await store.revoke({ nodeId: d3.nodeId, reason: 'stolen', now: 70 })).toEqual({ outcome: 'revoked', version: 1 });
    expect(await store.revoke({ nodeId: d3.nodeId, reason: 'again', now: 71 })).toEqual({ outcome: 'already-revoked', version: 1 });
    expect(await store.revoke({ nodeId: 'nope', reason: 'x', now: 72 })).toEqual({ outcome: 'unknown', version: 1 });
    const d1 = device(1);
    expect((await store.revoke({ nodeId: d1.nodeId, reason: 'compromised', now: 73 })).version).toBe(2);
    const list = await store.revocations();
    expect(list.version).toBe(2);
    expect(list.entries.map((e) => [e.nodeId, e.reason, e.revokedAt])).toEqual([[d3.nodeId, 'stolen', 70], [d1.nodeId, 'compromised', 73]]);
    const h = Uint8Array.from(createHash('sha256').update('s3').digest());
    await store.createChallenge({ id: 'r1', ekName: d3.ekName, secretHash: h, createdAt: 1, expiresAt: 10_000, usedAt: null, generation: 0 });
    expect(await store.completeActivation({ challengeId: 'r1', secretHash: h, ekName: d3.ekName, certificate: 'x', now: 80 })).toEqual({ ok: false, reason: 'revoked' });
    // A re-activation racing a revocation of an active node: whichever commits first, the node ends revoked.
    const d2 = device(2);
    await store.createChallenge({ id: 'r2', ekName: d2.ekName, secretHash: h, createdAt: 1, expiresAt: 10_000, usedAt: null, generation: 1 });
    const [reactivation] = await Promise.all([
      store.completeActivation({ challengeId: 'r2', secretHash: h, ekName: d2.ekName, certificate: 'y', now: 81 }),
      store.revoke({ nodeId: d2.nodeId, reason: 'raced', now: 81 }),
    ]);
    expect(reactivation.ok ? 'completed-first' : reactivation.reason).toMatch(/^(completed-first|revoked)$/);
    expect((await store.getDevice(d2.ekName))?.state).toBe('revoked');
    expect(await store.countDevices()).toEqual({ filed: 5000, active: 0, revoked: 3 });
    expect((await store.listDevices({ state: 'revoked', limit: 10 })).map((d) => d.revokeReason ?? '').sort((a, b) => a.localeCompare(b))).toEqual(['compromised', 'raced', 'stolen']);
  });

  it('vendor CA bundle: the first is kept, a higher version replaces it, the same one again is accepted, an older or a different one of the same version is not', async () => {
    const b = (version: number, sha256 = `${version}`.padStart(64, 'a'), loadedAt = 5_000 + version) => ({ version, sha256, loadedAt });
    expect(await store.acceptVendorBundle(b(2))).toEqual({ accepted: true, stored: b(2) });
    expect(await store.acceptVendorBundle(b(1))).toEqual({ accepted: false, stored: b(2) });
    expect(await store.acceptVendorBundle(b(2, 'f'.repeat(64)))).toEqual({ accepted: false, stored: b(2) });
    expect(await store.acceptVendorBundle(b(2, undefined, 9_000))).toEqual({ accepted: true, stored: b(2, undefined, 9_000) });
    expect(await store.acceptVendorBundle(b(3))).toEqual({ accepted: true, stored: b(3) });
    const again = await reopen();
    try {
      expect((await again.acceptVendorBundle(b(2))).accepted).toBe(false);
    } finally {
      await again.close();
    }
  });

  it('network manifest: none at first; a higher version replaces it, a lower or equal one is refused and the stored one kept', async () => {
    const m = (version: number, text = `{"v":${version}}`) => ({ network: 'testnet', version, manifest: text, publishedAt: 1_000 + version });
    expect(await store.networkManifest()).toBeNull();
    expect(await store.publishManifest(m(3))).toBe('published');
    expect(await store.networkManifest()).toEqual(m(3));
    expect(await store.publishManifest(m(2))).toBe('stale');
    expect(await store.publishManifest(m(3, '{"other":"content"}'))).toBe('stale');
    expect(await store.networkManifest()).toEqual(m(3));
    expect(await store.publishManifest(m(4))).toBe('published');
    expect(await store.networkManifest()).toEqual(m(4));
    const again = await reopen();
    try {
      expect(await again.networkManifest()).toEqual(m(4));
    } finally {
      await again.close();
    }
  });

  it('network manifest: of concurrent publishers the highest version stays, whatever the order', async () => {
    const m = (version: number) => ({ network: 'testnet', version, manifest: `{"v":${version}}`, publishedAt: version });
    const outcomes = await Promise.all([9, 7, 10, 8].map((v) => store.publishManifest(m(v))));
    expect(outcomes.filter((o) => o === 'published').length).toBeGreaterThanOrEqual(1);
    expect(outcomes[2]).toBe('published');
    expect(await store.networkManifest()).toEqual(m(10));
  });

  it('root rotations: kept per retiring key (the first stays), served newest-limited and oldest first, across a reopen', async () => {
    const r = (version: number, previousKey: string, nextKey: string, network = 'testnet') => ({ network, version, previousKey, nextKey, manifest: `{"v":${version}}`, recordedAt: 5_000 + version });
    expect(await store.rootRotations('testnet', 32)).toEqual([]);
    expect(await store.recordRotation(r(2, 'a1', 'a2'))).toBe('recorded');
    expect(await store.recordRotation(r(3, 'a1', 'a2'))).toBe('held');
    expect(await store.recordRotation(r(9, 'a2', 'a3'))).toBe('recorded');
    expect(await store.recordRotation(r(5, 'a3', 'a4'))).toBe('recorded');
    expect(await store.recordRotation(r(2, 'b1', 'b2', 'othernet'))).toBe('recorded');
    expect((await store.rootRotations('testnet', 32)).map((x) => x.version)).toEqual([2, 5, 9]);
    expect(await store.rootRotations('testnet', 2)).toEqual([r(5, 'a3', 'a4'), r(9, 'a2', 'a3')]);
    const again = await reopen();
    try {
      expect((await again.rootRotations('testnet', 32)).map((x) => [x.version, x.previousKey])).toEqual([[2, 'a1'], [5, 'a3'], [9, 'a2']]);
      expect((await again.rootRotations('othernet', 32)).length).toBe(1);
    } finally {
      await again.close();
    }
  });

  it('group commit: of concurrent activations each refused one (revoked, superseded, wrong proof, unknown) fails alone; the others complete', async () => {
    const devs = Array.from({ length: 12 }, (_, i) => device(90_000 + i));
    await store.fileBatch(batch('group', 'acme', devs.length), devs);
    const h = Uint8Array.from(createHash('sha256').update('group').digest());
    for (const [i, d] of devs.entries()) {
      await store.createChallenge({ id: `grp-${i}`, ekName: d.ekName, secretHash: h, createdAt: 1, expiresAt: 10_000, usedAt: null, generation: 0 });
    }
    // device 1 gets a second challenge for the same state: of its two proofs the first in the group wins
    await store.createChallenge({ id: 'grp-1b', ekName: devs[1]!.ekName, secretHash: h, createdAt: 1, expiresAt: 10_000, usedAt: null, generation: 0 });
    expect((await store.revoke({ nodeId: devs[3]!.nodeId, reason: 'stolen', now: 2 })).outcome).toBe('revoked');
    const proofs = [
      ...devs.map((d, i) => ({ challengeId: `grp-${i}`, secretHash: i === 5 ? new Uint8Array(32) : h, ekName: d.ekName, certificate: `cert ${i}`, now: 5 })),
      { challengeId: 'grp-1b', secretHash: h, ekName: devs[1]!.ekName, certificate: 'cert 1b', now: 5 },
      { challengeId: 'grp-none', secretHash: h, ekName: devs[0]!.ekName, certificate: 'x', now: 5 },
    ];
    // all in one turn: one group (or a few, bounded), committed together
    const out = await Promise.all(proofs.map((p) => store.completeActivation(p)));
    const expected = proofs.map((_, i) => {
      if (i === 3) return { ok: false, reason: 'revoked' };
      if (i === 5) return { ok: false, reason: 'bad-proof' };
      if (i === 12) return { ok: false, reason: 'superseded' };
      if (i === 13) return { ok: false, reason: 'challenge-unknown' };
      return { ok: true, brokerGeneration: 1, reactivated: false };
    });
    expect(out).toEqual(expected);
    const again = await reopen();
    try {
      for (const [i, d] of devs.entries()) {
        const row = await again.getDevice(d.ekName);
        if (i === 3) expect(row).toMatchObject({ state: 'revoked', certificate: null, brokerGeneration: 0 });
        else if (i === 5) expect(row).toMatchObject({ state: 'filed', certificate: null, brokerGeneration: 0 });
        else expect(row).toMatchObject({ state: 'active', certificate: `cert ${i}`, activatedAt: 5, brokerGeneration: 1 });
        expect((await again.getChallenge(`grp-${i}`))?.usedAt).toBe(i === 3 || i === 5 ? null : 5);
      }
      expect((await again.getChallenge('grp-1b'))?.usedAt).toBeNull();
    } finally {
      await again.close();
    }
  });

  it('stores SQL-injection strings as plain data', async () => {
    const evil = "x'); DROP TABLE devices; --";
    const d = { ...device(77), serial: evil, board: evil };
    expect(await store.fileBatch(batch(evil, 'acme', 1), [d])).toEqual(['filed']);
    expect((await store.getDevice(d.ekName))?.serial).toBe(evil);
    expect((await store.getBatch(evil))?.id).toBe(evil);
  });

  it('files text and bytes exactly as given: separators, escapes, non-ASCII, empty and all 256 byte values', async () => {
    const odd = 'a\tb\nc\\N\\x00 é 漢 😀\r,"\'';
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    const d = { ...device(78), serial: odd, board: '', ekPublic: every, ekCertificate: new Uint8Array(0) };
    expect(await store.fileBatch(batch('odd', 'acme', 1), [d])).toEqual(['filed']);
    expect(await store.getDevice(d.ekName)).toMatchObject({ serial: odd, board: '', ekPublic: every, ekCertificate: new Uint8Array(0) });
    expect(await store.fileBatch(batch('odd2', 'acme', 1), [d])).toEqual(['duplicate']);
  });

  it('a batch writer files in calls into one transaction: nothing visible before commit, outcomes as one call gives, counts at commit', async () => {
    const devs = Array.from({ length: 6 }, (_, i) => device(95_000 + i));
    expect(await store.fileBatch(batch('wa', 'acme', 2), [devs[0]!, devs[1]!])).toEqual(['filed', 'filed']);
    const before = await store.countDevices();
    const { lineCount: _l, rejected: _r, ...opening } = batch('wb');
    const w = await store.openBatch(opening);
    expect(await w.file([devs[0]!, devs[2]!, devs[3]!])).toEqual(['duplicate', 'filed', 'filed']);
    // readers see the last committed state meanwhile
    expect(await store.getDevice(devs[2]!.ekName)).toBeNull();
    expect(await store.getBatch('wb')).toBeNull();
    // on SQLite (one writer) another write waits for the batch; on PostgreSQL it goes ahead
    let added = false;
    const adding = store.addManufacturer({ name: 'writer-wait', publicKey: pub, createdAt: 1 }).then((r) => { added = true; return r; });
    expect(await store.countDevices()).toEqual(before);
    if (backend.name === 'sqlite') expect(added).toBe(false);
    else await adding;
    expect(await w.file([{ ...devs[1]!, serial: 'OTHER' }, devs[4]!, { ...device(95_100), nodeId: devs[2]!.nodeId }])).toEqual(['conflict', 'filed', 'conflict']);
    expect(await w.file([])).toEqual([]);
    await w.commit({ lineCount: 9, rejected: 3 });
    expect(await adding).toBe('added');
    expect(await store.getBatch('wb')).toMatchObject({ lineCount: 9, rejected: 3, filed: 3, duplicates: 1, conflicts: 2 });
    expect((await store.getDevice(devs[2]!.ekName))?.batchId).toBe('wb');
    await w.abort(); // after commit: nothing to undo
    expect(await store.getDevice(devs[4]!.ekName)).not.toBeNull();
  });

  it('a batch writer aborted, or failing in a later call, leaves no device and no batch record', async () => {
    const devs = Array.from({ length: 3 }, (_, i) => device(95_200 + i));
    const before = await store.countDevices();
    const { lineCount: _l, rejected: _r, ...opening } = batch('wc');
    const w = await store.openBatch(opening);
    expect(await w.file([devs[0]!])).toEqual(['filed']);
    await w.abort();
    await w.abort();
    expect(await store.getDevice(devs[0]!.ekName)).toBeNull();
    expect(await store.getBatch('wc')).toBeNull();
    const w2 = await store.openBatch(opening);
    expect(await w2.file([devs[1]!])).toEqual(['filed']);
    // a column the schema requires, missing: the store refuses the call, and the batch is gone
    await expect(w2.file([{ ...devs[2]!, serial: null as unknown as string }])).rejects.toMatchObject({ code: 'ERR_PROV_STORE' });
    await expect(w2.commit({ lineCount: 2, rejected: 0 })).rejects.toMatchObject({ code: 'ERR_PROV_STORE' });
    await w2.abort();
    expect(await store.getDevice(devs[1]!.ekName)).toBeNull();
    expect(await store.getBatch('wc')).toBeNull();
    expect(await store.countDevices()).toEqual(before);
    // and the store takes the next batch
    expect(await store.fileBatch(batch('wc', 'acme', 1), [devs[1]!])).toEqual(['filed']);
  });
});
