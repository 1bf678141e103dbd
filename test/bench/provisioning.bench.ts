// Provisioning, each figure with a baseline measured in the same run:
//   - batch line verification (parse + EK chain + key + sealing checks) vs bare JSON.parse;
//   - batch upload + store over HTTP, SQLite (and PostgreSQL with BTN_PG_URL), vs the raw
//     fileBatch insert of the same rows into the same store, and vs one HTTP call per device
//     (Helium's onboarding server files one hotspot per call);
//   - activations/s (challenge + proof over HTTP from fetch in this process; real MakeCredential,
//     certificate signing and store transaction; the TPM side is skipped by capturing the
//     secret), and the same work without HTTP vs the bare store operations;
//   - GET /v1/health driven by wrk from a process of its own vs a bare node:http server under the
//     same wrk (the in-process fetch pairs are a client ceiling, not the server's).
// Lines are synthetic: one real swtpm EK certificate and key reused, distinct EK names and
// sealing keys (test/provisioning/synthetic.ts); every line's certificate signature is verified.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { makeCredential } from '../../provisioning/credential.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { checkManifestLine, isRejection, parseManifestLine, signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { completeProof, createChallenge, startRegistrar, type MakeCredential } from '../../provisioning/server/index.ts';
import { openStore, type NewDevice, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { startDevices } from '../provisioning/devices.ts';
import { manifestBytes, syntheticLines } from '../provisioning/synthetic.ts';
import { withBaseline, type BenchSuite, type Report } from './report.ts';
import type { ChallengeResponse, ProofResponse } from '../../firmware/protocol/registrar-api/index.ts';

const r4 = (n: number): number => Math.round(n);
const execFileAsync = promisify(execFile);

interface StoreHandle { name: string; open: () => Promise<ProvisioningStore>; cleanup: () => Promise<void> }

function sqliteHandle(): StoreHandle {
  const dir = mkdtempSync(join(tmpdir(), 'btn-prov-bench-'));
  let n = 0;
  return { name: 'SQLite', open: () => openStore(`sqlite:${join(dir, `p${n++}.db`)}`), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

function pgHandle(url: string): StoreHandle {
  const schemas: string[] = [];
  return {
    name: 'PostgreSQL',
    open: () => {
      const schema = `btn_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
      schemas.push(schema);
      return openStore(url, { schema });
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

async function post<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const doc = await res.json();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(doc)}`);
  return doc as T;
}

/** Requests/s that wrk (Debian's HTTP load generator, a process of its own) gets from url on loopback. */
async function wrkRate(url: string, seconds: number): Promise<number> {
  const { stdout } = await execFileAsync('wrk', ['-t1', '-c16', `-d${seconds}s`, '--latency', url], { timeout: (seconds + 30) * 1000 });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (m === null) throw new Error(`wrk printed no rate: ${stdout.slice(0, 300)}`);
  return Number(m[1]);
}

async function bareServer(body: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function storeFigures(report: Report, h: StoreHandle, ctx: {
  manifest: Uint8Array; devices: NewDevice[]; lines: string[]; maker: Ed25519Key; root: Ed25519Key; trust: TrustStore; quick: boolean; wrk: boolean;
}): Promise<void> {
  const n = ctx.devices.length;
  // raw insert of the same rows (baseline)
  const raw = await h.open();
  await raw.addManufacturer({ name: 'acme', publicKey: ctx.maker.publicKey, createdAt: 0 });
  let t = performance.now();
  await raw.fileBatch({ id: 'raw', manufacturer: 'acme', manifestSha256: '0'.repeat(64), signature: new Uint8Array(64), lineCount: n, rejected: 0, uploadedAt: 0 }, ctx.devices);
  const rawRate = n / ((performance.now() - t) / 1000);
  await raw.close();

  // upload over HTTP, checked and stored
  const store = await h.open();
  await store.addManufacturer({ name: 'acme', publicKey: ctx.maker.publicKey, createdAt: 0 });
  const server = await startRegistrar({ store, rootKey: ctx.root, trust: ctx.trust, maxBatchBytes: 1024 * 1024 * 1024 });
  const sig = signManifest(ctx.manifest, ctx.maker, 'acme');
  t = performance.now();
  const res = await fetch(`${server.url}/v1/batches`, {
    method: 'POST', body: ctx.manifest,
    headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': sig.signature },
  });
  const doc = (await res.json()) as { filed: number };
  const uploadRate = n / ((performance.now() - t) / 1000);
  if (doc.filed !== n) throw new Error(`upload filed ${doc.filed} of ${n}`);
  report(withBaseline(`prov batch upload+store ${n} lines, ${h.name}`, r4(uploadRate), 'lines/s', `raw fileBatch insert ${h.name}`, r4(rawRate)));

  // one HTTP call per device (Helium style): each device its own signed one-line batch
  const single = ctx.lines.slice(0, ctx.quick ? 300 : 1500).map((l) => new Uint8Array(Buffer.from(l + '\n')));
  const store2 = await h.open();
  await store2.addManufacturer({ name: 'acme', publicKey: ctx.maker.publicKey, createdAt: 0 });
  const server2 = await startRegistrar({ store: store2, rootKey: ctx.root, trust: ctx.trust });
  t = performance.now();
  await pool(single, 8, async (m) => {
    const s = signManifest(m, ctx.maker, 'acme');
    const r = await fetch(`${server2.url}/v1/batches`, {
      method: 'POST', body: m, headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': s.signature },
    });
    await r.arrayBuffer();
  });
  const perCall = single.length / ((performance.now() - t) / 1000);
  report(withBaseline(`prov batch upload vs one call per device, ${h.name}`, r4(uploadRate), 'lines/s', 'one HTTP call per device (8 parallel)', r4(perCall)));
  await server2.close();
  await store2.close();

  // activations: challenge + proof over HTTP, concurrency 16
  const secrets = new Map<string, string>();
  const capturing: MakeCredential = (input) => {
    const out = makeCredential(input);
    secrets.set(toHex(out.credentialBlob), toHex(input.secret));
    return out;
  };
  await server.close();
  const actServer = await startRegistrar({ store, rootKey: ctx.root, trust: ctx.trust, makeCredential: capturing });
  const count = ctx.quick ? 300 : 2000;
  const targets = ctx.devices.slice(0, count);
  t = performance.now();
  await pool(targets, 16, async (d) => {
    const ch = await post<ChallengeResponse>(`${actServer.url}/v1/activation/challenge`, { ekPublic: toHex(d.ekPublic), sealingPublic: toHex(d.sealingPublic) });
    const secret = secrets.get(ch.credentialBlob)!;
    await post<ProofResponse>(`${actServer.url}/v1/activation/proof`, { challengeId: ch.challengeId, secret });
  });
  const actRate = count / ((performance.now() - t) / 1000);
  t = performance.now();
  await pool(targets, 16, async () => {
    await (await fetch(`${actServer.url}/v1/health`)).arrayBuffer();
    await (await fetch(`${actServer.url}/v1/health`)).arrayBuffer();
  });
  const pairRate = count / ((performance.now() - t) / 1000);
  report(withBaseline(`prov activations (challenge+proof, fetch in this process), ${h.name}`, r4(actRate), 'activations/s', 'two fetch GET /v1/health per activation, same process', r4(pairRate)));
  // The HTTP ceiling measured honestly: wrk in a process of its own against the registrar's
  // health route, beside a bare node:http server answering the same bytes (same process as the
  // registrar, same wrk settings, same run).
  if (ctx.wrk) {
    const health = await wrkRate(`${actServer.url}/v1/health`, ctx.quick ? 2 : 5);
    const bare = await bareServer(await (await fetch(`${actServer.url}/v1/health`)).text());
    const bareRate = await wrkRate(bare.url, ctx.quick ? 2 : 5);
    await bare.close();
    report(withBaseline(`prov GET /v1/health under wrk -t1 -c16, ${h.name}`, r4(health), 'requests/s', 'bare node:http server, same bytes, same wrk', r4(bareRate)));
  }
  await actServer.close();

  // the same work without HTTP (challenge + proof called directly, 16 in flight) vs the bare
  // store operations of an activation (insert challenge, check-and-mark)
  const deps = {
    store, rootKey: ctx.root, now: Date.now, makeCredential: capturing, challengeTtlMs: 300_000, certificateTtlMs: 3.15e11,
  };
  const direct = ctx.devices.slice(count, 2 * count);
  t = performance.now();
  await pool(direct, 16, async (d) => {
    const ch = await createChallenge(deps, d.ekPublic, d.sealingPublic);
    await completeProof(deps, ch.challengeId, new Uint8Array(Buffer.from(secrets.get(ch.credentialBlob)!, 'hex')));
  });
  const directRate = direct.length / ((performance.now() - t) / 1000);
  const bare = ctx.devices.slice(2 * count, 3 * count);
  const h32 = new Uint8Array(32);
  t = performance.now();
  await pool(bare, 16, async (d) => {
    const id = randomBytes(16).toString('hex');
    await store.createChallenge({ id, ekName: d.ekName, secretHash: h32, createdAt: 0, expiresAt: 8e15, usedAt: null });
    const r = await store.completeActivation({ challengeId: id, secretHash: h32, ekName: d.ekName, certificate: '{}', now: 1 });
    if (!r.ok) throw new Error(r.reason);
  });
  const bareRate = bare.length / ((performance.now() - t) / 1000);
  report(withBaseline(`prov activations without HTTP, ${h.name}`, r4(directRate), 'activations/s', 'bare store ops of an activation', r4(bareRate)));
  await store.close();
}

export const run: BenchSuite = async (report, { quick }) => {
  const lab = await startDevices(1);
  const dirs: StoreHandle[] = [];
  try {
    const n = quick ? 10_000 : 100_000;
    const lines = syntheticLines(lab.devices[0]!.line, n);
    const manifest = manifestBytes(lines);
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
    report(withBaseline(`prov batch line verification (${n} lines)`, r4(verifyRate), 'lines/s', 'bare JSON.parse of the lines', r4(parseRate)));

    const root = generateEd25519().key;
    const maker = generateEd25519().key;
    const handles = [sqliteHandle()];
    const pgUrl = process.env['BTN_PG_URL'];
    if (pgUrl !== undefined) handles.push(pgHandle(pgUrl));
    else process.stderr.write('provisioning bench: BTN_PG_URL not set, PostgreSQL figures skipped\n');
    dirs.push(...handles);
    const wrk = await execFileAsync('wrk', ['--version']).then(() => true, (err: { stdout?: string }) => (err.stdout ?? '').includes('wrk'));
    if (!wrk) process.stderr.write('provisioning bench: wrk not installed (apt-get install wrk), HTTP figures under load skipped\n');
    for (const h of handles) await storeFigures(report, h, { manifest, devices, lines, maker, root, trust, quick, wrk });
  } finally {
    for (const h of dirs) await h.cleanup().catch(() => undefined);
    await lab.destroy();
  }
};
