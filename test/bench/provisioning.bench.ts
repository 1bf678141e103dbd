// Provisioning, each figure with a baseline measured in the same run:
//   - batch line verification (parse + EK chain + key + sealing checks) vs bare JSON.parse;
//   - over HTTP, the registrar bundle in a process of its own (test/bench/provisioning-http.ts):
//     batch upload + store (SQLite, and PostgreSQL with BTN_PG_URL) vs the raw fileBatch insert of
//     the same rows and vs one HTTP call per device; GET /v1/health, activation challenges and
//     proofs driven by wrk from another process, each beside a bare node:http process under the
//     same wrk;
//   - activations without HTTP (challenge + proof called directly) vs the bare store operations;
//   - the floors (provisioning-floors.ts): the activation's parts in-process on one thread, and
//     node:crypto verifying the lines' EK certificate signatures on every core; the served
//     challenges, proofs, whole activations and the batch upload are each held against them.
// Lines are synthetic (test/provisioning/synthetic.ts): distinct EK names and sealing keys, and EK
// certificates minted under the swtpm test CA (test/provisioning/software-ek.ts), a pool of
// distinct ones that the lines share in turn (the label says how many); every line's certificate
// signature is verified. The product's caps stay as they are.
// BTN_BENCH_INGEST_ONLY=1: only the batch figures (line verification, the RSA-verify floor, the
// raw insert and the upload), for measuring ingest alone in a few minutes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { bundleRegistrar } from '../../image-build/registrar-bundle.ts';
import { makeCredential } from '../../provisioning/credential.ts';
import { generateEd25519, writeKeyFile, type Ed25519Key } from '../../provisioning/keys.ts';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { checkManifestLine, isRejection, parseManifestLine, TrustStore } from '../../provisioning/manifest/index.ts';
import { completeProof, createChallenge, DEFAULT_MAX_BATCH_BYTES, type MakeCredential } from '../../provisioning/server/index.ts';
import { openStore, type NewDevice, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { parsePublic } from '../../tpm/public-area.ts';
import { startDevices } from '../provisioning/devices.ts';
import { ekCertificateMinter, randomModulus, realEkKey } from '../provisioning/software-ek.ts';
import { manifestBytes, syntheticLines } from '../provisioning/synthetic.ts';
import { activationFloor, rsaVerifyFloor } from './provisioning-floors.ts';
import { httpFigures } from './provisioning-http.ts';
import { withBaseline, type BenchSuite, type Report } from './report.ts';
import { wrkInstalled } from './wrk.ts';

const r4 = (n: number): number => Math.round(n);
const INGEST_ONLY = process.env['BTN_BENCH_INGEST_ONLY'] === '1';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface StoreHandle {
  name: string;
  /** A fresh store, and the URL another process opens the same store with. */
  open: () => Promise<{ store: ProvisioningStore; url: string }>;
  cleanup: () => Promise<void>;
}

function sqliteHandle(dir: string): StoreHandle {
  let n = 0;
  return {
    name: 'SQLite',
    open: async () => {
      const url = `sqlite:${join(dir, `p${n++}.db`)}`;
      return { store: await openStore(url), url };
    },
    cleanup: async () => undefined,
  };
}

function pgHandle(url: string): StoreHandle {
  const schemas: string[] = [];
  return {
    name: 'PostgreSQL',
    open: async () => {
      const schema = `btn_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
      schemas.push(schema);
      const store = await openStore(url, { schema });
      // node-postgres takes libpq's options parameter from the URL: the process uses the same schema.
      return { store, url: `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}` };
    },
    cleanup: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await c.end();
    },
  };
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

interface Context {
  readonly devices: NewDevice[];
  readonly lines: string[];
  readonly singleLines: string[];
  readonly activation: { readonly lines: string[]; readonly eks: Parameters<typeof httpFigures>[1]['activationEks'] };
  readonly maker: Ed25519Key;
  readonly root: Ed25519Key;
  readonly rootKeyFile: string;
  readonly trustDir: string;
  readonly bundle: string;
  readonly wrk: boolean;
  readonly dir: string;
  readonly quick: boolean;
  readonly verifyFloor: { readonly rate: number; readonly threads: number };
}

async function withManufacturer(h: StoreHandle, maker: Ed25519Key): Promise<{ store: ProvisioningStore; url: string }> {
  const s = await h.open();
  await s.store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: 0 });
  return s;
}

async function storeFigures(report: Report, h: StoreHandle, ctx: Context): Promise<void> {
  const n = ctx.devices.length;
  // raw insert of the same rows: the upload's baseline (and the store of the figures without HTTP)
  const { store } = await withManufacturer(h, ctx.maker);
  let t = performance.now();
  await store.fileBatch({ id: 'raw', manufacturer: 'acme', manifestSha256: '0'.repeat(64), signature: new Uint8Array(64), lineCount: n, rejected: 0, uploadedAt: 0 }, ctx.devices);
  const rawRate = n / ((performance.now() - t) / 1000);

  // the activation's parts in-process (the floor the served figures are held against)
  const count = ctx.quick ? 300 : 2000;
  const activationFloorRates = INGEST_ONLY ? { challenge: 0, proof: 0, activation: 0 } : await activationFloor(store, ctx.devices.slice(2 * count, 3 * count), ctx.root);

  const served = await withManufacturer(h, ctx.maker);
  await served.store.close();
  await httpFigures(report, {
    storeName: h.name, storeUrl: served.url, bundle: ctx.bundle, wrk: ctx.wrk, dir: ctx.dir, rootKeyFile: ctx.rootKeyFile, trustDir: ctx.trustDir,
    ingestOnly: INGEST_ONLY, maker: ctx.maker, lines: ctx.lines, singleLines: ctx.singleLines, activationLines: ctx.activation.lines, activationEks: ctx.activation.eks,
    seconds: ctx.quick ? 2 : 5, rawInsertRate: rawRate, activationFloor: activationFloorRates, verifyFloor: ctx.verifyFloor,
  });
  if (INGEST_ONLY) {
    await store.close();
    return;
  }

  // activations without HTTP (challenge + proof called directly, 16 in flight) vs the bare store
  // operations of an activation (insert challenge, check-and-mark); the secret is captured at
  // MakeCredential, so no TPM side
  const secrets = new Map<string, string>();
  const capturing: MakeCredential = (input) => {
    const out = makeCredential(input);
    secrets.set(toHex(out.credentialBlob), toHex(input.secret));
    return out;
  };
  const deps = {
    store, rootKey: ctx.root, now: Date.now, makeCredential: capturing, challengeTtlMs: 300_000, certificateTtlMs: 3.15e11,
  };
  const direct = ctx.devices.slice(0, count);
  t = performance.now();
  await pool(direct, 16, async (d) => {
    const ch = await createChallenge(deps, d.ekPublic, d.sealingPublic);
    await completeProof(deps, ch.challengeId, fromHex(secrets.get(ch.credentialBlob)!));
  });
  const directRate = direct.length / ((performance.now() - t) / 1000);
  const bare = ctx.devices.slice(count, 2 * count);
  const h32 = new Uint8Array(32);
  t = performance.now();
  await pool(bare, 16, async (d) => {
    const id = randomBytes(16).toString('hex');
    await store.createChallenge({ id, ekName: d.ekName, secretHash: h32, createdAt: 0, expiresAt: 8e15, usedAt: null, generation: 0 });
    const r = await store.completeActivation({ challengeId: id, secretHash: h32, ekName: d.ekName, certificate: '{}', now: 1 });
    if (!r.ok) throw new Error(r.reason);
  });
  const bareRate = bare.length / ((performance.now() - t) / 1000);
  report(withBaseline(`prov activations without HTTP, ${h.name}`, r4(directRate), 'activations/s', 'bare store ops of an activation', r4(bareRate)));
  await store.close();
}

export const run: BenchSuite = async (report, { quick }) => {
  const lab = await startDevices(1);
  const dir = mkdtempSync(join(tmpdir(), 'btn-prov-bench-'));
  const bundleDir = join(ROOT, 'dist', `bench-registrar-${process.pid}`);
  const handles: StoreHandle[] = [];
  try {
    const n = quick ? 10_000 : 100_000;
    const template = lab.devices[0]!.line;
    const mint = await ekCertificateMinter(lab.caDir, template.ekCertificate, parsePublic(fromHex(template.ekPublic)).rsa!.modulus);
    const distinct = quick ? 200 : 1_000;
    const eks = Array.from({ length: distinct }, () => mint(randomModulus()));
    const lines = syntheticLines(template, n, { eks });
    const manifest = manifestBytes(lines);
    if (manifest.length > DEFAULT_MAX_BATCH_BYTES) throw new Error(`${n} lines are ${manifest.length} bytes, over the registrar's batch cap`);
    const trust = await TrustStore.fromDirectory(lab.caDir);
    const now = Date.now();

    // verification only, one core
    let t = performance.now();
    const devices: NewDevice[] = [];
    for (const l of lines) {
      const p = parseManifestLine(l);
      if (isRejection(p)) throw new Error(p.reason);
      const d = checkManifestLine(p, trust, now);
      if (isRejection(d)) throw new Error(d.reason);
      devices.push(d);
    }
    const verifyRate = n / ((performance.now() - t) / 1000);
    t = performance.now();
    for (const l of lines) JSON.parse(l);
    const parseRate = n / ((performance.now() - t) / 1000);
    report(withBaseline(`prov batch line verification (${n} lines, ${distinct} distinct EK certs)`, r4(verifyRate), 'lines/s', 'bare JSON.parse of the lines', r4(parseRate)));
    // the ingest floor: every line's EK certificate signature, node:crypto on every core
    const verifyFloor = await rsaVerifyFloor(eks.map((e) => e.certificate), lab.caDir, quick ? 20_000 : 60_000);
    report(withBaseline(`prov RSA-verify floor, ${verifyFloor.threads} threads`, r4(verifyFloor.rate), 'verifies/s', 'batch line verification, one core', r4(verifyRate)));

    const rootSeed = generateEd25519().seed;
    const rootKeyFile = join(dir, 'root.key');
    const root = await writeKeyFile(rootKeyFile, rootSeed);
    const maker = generateEd25519().key;
    const wrk = await wrkInstalled();
    if (!wrk) process.stderr.write('provisioning bench: figures under wrk skipped: wrk not installed (apt-get install wrk)\n');
    // EKs whose private keys the bench holds, so that proofs can be answered without a TPM
    const activationEks = Array.from({ length: 4 }, () => {
      const k = realEkKey();
      return mint(k.modulus, k.privateKey);
    });
    const ctx: Context = {
      devices, lines, maker, root, rootKeyFile, trustDir: lab.caDir, dir, quick, verifyFloor,
      singleLines: syntheticLines(template, quick ? 300 : 1500, { prefix: 'ONE', eks }),
      activation: { lines: syntheticLines(template, (quick ? 500 : 3000) + 1, { prefix: 'ACT', eks: activationEks }), eks: activationEks },
      bundle: (await bundleRegistrar(bundleDir)).file, wrk,
    };

    handles.push(sqliteHandle(dir));
    const pgUrl = process.env['BTN_PG_URL'];
    if (pgUrl !== undefined) handles.push(pgHandle(pgUrl));
    else process.stderr.write('provisioning bench: BTN_PG_URL not set, PostgreSQL figures skipped\n');
    for (const h of handles) await storeFigures(report, h, ctx);
  } finally {
    for (const h of handles) await h.cleanup().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(bundleDir, { recursive: true, force: true });
    await lab.destroy();
  }
};
