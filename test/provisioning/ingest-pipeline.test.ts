// Ingest that files settled lines into the open batch while later lines are still checked (the
// server's path: the signature verified on the spooled copy first) against ingest that collects
// every line and files them in one call after the signature: the reports must be byte-identical,
// and a failure anywhere must leave nothing filed. On SQLite files and on PostgreSQL (BTN_PG_URL).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { batchId, ingestBatch, signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { spoolSignedBatch } from '../../provisioning/manifest/spool.ts';
import { openStore, type BatchWriter, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { startDevices, type DeviceLab } from './devices.ts';
import { manifestBytes, syntheticLines } from './synthetic.ts';

const PG_URL = process.env['BTN_PG_URL'];
if (PG_URL === undefined && process.env['CI']) throw new Error('ingest pipeline: CI is set but BTN_PG_URL is not: PostgreSQL was not started (.ci/run starts it)');
if (PG_URL === undefined) console.warn('ingest pipeline: BTN_PG_URL is not set; SKIPPING the PostgreSQL half (CI sets it)');

const NOW = Date.now();
const maker = generateEd25519().key;
let lab: DeviceLab;
let trust: TrustStore;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  lab = await startDevices(1);
  trust = await TrustStore.fromDirectory(lab.caDir);
});
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
  await lab?.destroy();
});

interface Backend { readonly name: string; open(): Promise<ProvisioningStore> }
const backends: Backend[] = [{
  name: 'sqlite',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'btn-prov-pipe-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    return openStore(`sqlite:${join(dir, 'p.db')}`);
  },
}];
if (PG_URL !== undefined) {
  backends.push({
    name: 'postgres',
    open: async () => {
      const schema = `btn_pipe_${process.pid}_${randomBytes(4).toString('hex')}`;
      cleanups.push(async () => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      });
      return openStore(PG_URL, { schema });
    },
  });
}

/** The bytes in pieces, as a spool file or a socket hands them over. */
async function* pieces(b: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
const sign = (m: Uint8Array): Uint8Array => new Uint8Array(Buffer.from(signManifest(m, maker, 'acme').signature, 'hex'));
const sha256 = (m: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(m).digest());

/**
 * The store with filing while checking on (SQLite files at the end by default), and any of its
 * methods replaced, so groups already filed are what a failure must roll back, on both stores.
 */
function whileChecking(store: ProvisioningStore, replace: Partial<Pick<ProvisioningStore, 'openBatch'>> = {}): ProvisioningStore {
  return new Proxy(store, {
    get: (target, prop) => {
      if (prop === 'fileWhileChecking') return true;
      if (prop === 'openBatch' && replace.openBatch !== undefined) return replace.openBatch;
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe.each(backends)('ingest filing while checking: $name', (backend) => {
  let syn: string[];
  let manifest: Uint8Array;
  let earlier: Uint8Array;

  beforeAll(() => {
    // more lines than two of ingest's groups, with every kind of outcome spread over them
    syn = syntheticLines(lab.devices[0]!.line, 4_600, { prefix: backend.name });
    const lines = syn.map((l, i) => i % 997 === 5 ? 'not json' : i % 1_301 === 7 ? syn[i - 1]! : l);
    lines.splice(2_300, 0, JSON.stringify({ ...JSON.parse(syn[0]!), serial: 'AGAIN' }));
    manifest = manifestBytes(lines);
    // filed before: one line the same (duplicate), one with the same EK under another serial (conflict)
    earlier = manifestBytes([syn[10]!, JSON.stringify({ ...JSON.parse(syn[4_200]!), serial: 'CHANGED' })]);
  });

  /** A fresh store holding acme and the earlier batch. */
  async function prepared(): Promise<ProvisioningStore> {
    const store = await backend.open();
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: NOW });
    await ingestBatch({ source: pieces(earlier), manufacturer: 'acme', signature: sign(earlier), store, trust, now: NOW });
    return store;
  }

  it('reports byte-identical results to filing in one call after the checks, and stores the same', async () => {
    const collected = await prepared();
    const pipelined = await prepared();
    try {
      const one = await ingestBatch({ source: pieces(manifest), manufacturer: 'acme', signature: sign(manifest), store: collected, trust, now: NOW });
      const piped = await ingestBatch({ source: pieces(manifest), verifiedSha256: sha256(manifest), manufacturer: 'acme', signature: sign(manifest), store: whileChecking(pipelined), trust, now: NOW });
      expect(JSON.stringify(piped)).toBe(JSON.stringify(one));
      expect(one).toMatchObject({ lines: 4_601, duplicates: 1 });
      const codes = new Set(one.results.map((r) => r.code ?? r.status));
      expect([...codes].sort()).toEqual(['ERR_DUPLICATE_IN_BATCH', 'ERR_FILED_WITH_OTHER_DATA', 'ERR_LINE_MALFORMED', 'duplicate', 'filed']);
      expect(await pipelined.getBatch(piped.batchId)).toEqual(await collected.getBatch(one.batchId));
      expect(await pipelined.countDevices()).toEqual(await collected.countDevices());
      expect(await pipelined.getBatch(piped.batchId)).toMatchObject({ lineCount: 4_601, filed: one.filed, duplicates: 1, conflicts: 1, rejected: one.rejected - 1 });
      // the same bytes again: every device a duplicate, and the batch's record unchanged
      const again = await ingestBatch({ source: pieces(manifest), verifiedSha256: sha256(manifest), manufacturer: 'acme', signature: sign(manifest), store: whileChecking(pipelined), trust, now: NOW });
      const onceMore = await ingestBatch({ source: pieces(manifest), manufacturer: 'acme', signature: sign(manifest), store: collected, trust, now: NOW });
      expect(JSON.stringify(again)).toBe(JSON.stringify(onceMore));
      expect(again.duplicates).toBe(one.filed + 1);
    } finally {
      await collected.close();
      await pipelined.close();
    }
  });

  it('a store failure after groups were filed rolls the whole batch back', async () => {
    const store = await prepared();
    const before = await store.countDevices();
    let calls = 0;
    // the store as it is, but its writer fails on the second group (a lost connection, a full disk)
    const openBatch = async (b: Parameters<ProvisioningStore['openBatch']>[0]): Promise<BatchWriter> => {
      const w = await store.openBatch(b);
      return {
        file: async (d) => {
          if (++calls === 2) throw new Error('store lost');
          return w.file(d);
        },
        commit: (c) => w.commit(c),
        abort: () => w.abort(),
      };
    };
    const failing = whileChecking(store, { openBatch });
    try {
      await expect(ingestBatch({ source: pieces(manifest), verifiedSha256: sha256(manifest), manufacturer: 'acme', signature: sign(manifest), store: failing, trust, now: NOW }))
        .rejects.toThrow('store lost');
      expect(calls).toBe(2);
      expect(await store.countDevices()).toEqual(before);
      const id = batchId('acme', sha256(manifest));
      expect(await store.getBatch(id)).toBeNull();
      // the retry is the batch's first filing: the first group was not left behind
      expect((await ingestBatch({ source: pieces(manifest), manufacturer: 'acme', signature: sign(manifest), store, trust, now: NOW })).batchId).toBe(id);
      expect(await store.getBatch(id)).toMatchObject({ lineCount: 4_601, duplicates: 1, conflicts: 1 });
    } finally {
      await store.close();
    }
  });

  it('a digest the signature does not cover is refused before any line is read, and nothing is filed', async () => {
    const store = await prepared();
    const before = await store.countDevices();
    let read = false;
    async function* watched(): AsyncGenerator<Uint8Array> {
      read = true;
      yield* pieces(manifest);
    }
    try {
      await expect(ingestBatch({ source: watched(), verifiedSha256: sha256(earlier), manufacturer: 'acme', signature: sign(manifest), store, trust, now: NOW }))
        .rejects.toMatchObject({ code: 'ERR_PROV_BAD_SIGNATURE' });
      expect(read).toBe(false);
      expect(await store.countDevices()).toEqual(before);
    } finally {
      await store.close();
    }
  });
});

describe('spool', () => {
  it('keeps the bytes exactly, arriving in pieces of every size, and hands over the digest its signature covers', async () => {
    const store = await backends[0]!.open();
    const dir = mkdtempSync(join(tmpdir(), 'btn-prov-spool-'));
    try {
      await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: NOW });
      const body = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
      async function* ragged(): AsyncGenerator<Uint8Array> {
        // a reused buffer, as a stream may hand over: the spool must copy what it keeps
        const scratch = new Uint8Array(70_000);
        for (let at = 0, n = 1; at < body.length; at += n, n = (n * 7 + 13) % 65_521 + 1) {
          const piece = body.subarray(at, at + n);
          scratch.set(piece);
          yield scratch.subarray(0, piece.length);
        }
      }
      const spooled = await spoolSignedBatch({ body: ragged(), manufacturer: 'acme', signature: sign(body), store, dir });
      const back: Buffer[] = [];
      for await (const c of spooled.source()) back.push(Buffer.from(c as Uint8Array));
      expect(Buffer.concat(back).equals(Buffer.from(body))).toBe(true);
      expect(spooled.bytes).toBe(body.length);
      expect(spooled.sha256).toEqual(sha256(body));
      await spooled.remove();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
