// The registrar over HTTP as it is deployed: the bundle under plain node in a process of its own,
// its store prepared by the bench, driven by wrk (another process) or, for the one-shot batch
// upload, by one fetch. Each endpoint beside a bare node:http process answering the same bytes to
// the same wrk in the same run. Every request is valid (a 4xx or socket error fails the bench):
// challenges for filed devices, and proofs each for a fresh challenge, answered by software
// ActivateCredential with EK keys the bench holds.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex } from '../../firmware/core/bytes.ts';
import type { ChallengeResponse, ProofResponse } from '../../firmware/protocol/registrar-api/index.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { signManifest } from '../../provisioning/manifest/index.ts';
import { DEFAULT_UPLOADS_PER_MANUFACTURER } from '../../provisioning/server/upload-slots.ts';
import { objectName, parsePublic } from '../../tpm/public-area.ts';
import { activateCredential, type SoftwareEk } from '../provisioning/software-ek.ts';
import { manifestBytes } from '../provisioning/synthetic.ts';
import type { ActivationFloor } from './provisioning-floors.ts';
import { withBaseline, type Report } from './report.ts';
import { startBareServer, startRegistrarProcess } from './server-processes.ts';
import { runWrk, type WrkLoad, type WrkResult } from './wrk.ts';

const r4 = (n: number): number => Math.round(n);
const ms = (n: number): number => Number(n.toPrecision(3));
const CONNECTIONS = 16;

export interface HttpBenchInput {
  readonly storeName: string;
  /** A fresh, migrated store holding manufacturer "acme" (closed by the bench): the registrar process opens it. */
  readonly storeUrl: string;
  readonly bundle: string;
  /** wrk is installed: without it only the upload figures are measured. */
  readonly wrk: boolean;
  /** Only the big batch upload's figures. */
  readonly ingestOnly?: boolean;
  readonly dir: string;
  readonly rootKeyFile: string;
  readonly trustDir: string;
  readonly maker: Ed25519Key;
  /** The big batch (all lines), one line a device. */
  readonly lines: readonly string[];
  /** Lines of other devices, each filed by a call of its own. */
  readonly singleLines: readonly string[];
  /** Lines of devices whose EK keys the bench holds (one proof each, one more for a sample). */
  readonly activationLines: readonly string[];
  readonly activationEks: readonly SoftwareEk[];
  readonly seconds: number;
  /** Lines per second of the raw store insert of the same rows (the upload's baseline). */
  readonly rawInsertRate: number;
  /** The activation's parts in-process, measured in this run (provisioning-floors.ts). */
  readonly activationFloor: ActivationFloor;
  /** node:crypto RSA verifications per second of the lines' EK certificates on all cores, this run. */
  readonly verifyFloor: { readonly rate: number; readonly threads: number };
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

async function upload(url: string, maker: Ed25519Key, manifest: Uint8Array): Promise<number> {
  const sig = signManifest(manifest, maker, 'acme');
  const res = await fetch(`${url}/v1/batches`, {
    method: 'POST', body: manifest,
    headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': sig.signature },
  });
  const doc = (await res.json()) as { filed?: number };
  if (res.status !== 200 || doc.filed === undefined) throw new Error(`batch upload: ${res.status} ${JSON.stringify(doc).slice(0, 300)}`);
  return doc.filed;
}

async function post<T>(url: string, body: unknown): Promise<{ doc: T; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text.slice(0, 300)}`);
  return { doc: JSON.parse(text) as T, text };
}

function valid(what: string, r: WrkResult): WrkResult {
  if (r.failed > 0 || r.socketErrors > 0 || r.requests === 0) {
    throw new Error(`${what}: ${r.requests} requests, ${r.failed} refused, ${r.socketErrors} socket errors: the figure would not measure valid requests`);
  }
  return r;
}

function figures(report: Report, label: string, unit: string, served: WrkResult, bare: WrkResult): void {
  report(withBaseline(label, r4(served.rate), unit, 'bare node:http process, same bytes, same wrk', r4(bare.rate)));
  report(withBaseline(`  latency p50 (p90 ${ms(served.p90Ms)} ms)`, ms(served.p50Ms), 'ms', `bare p50 (p90 ${ms(bare.p90Ms)} ms)`, ms(bare.p50Ms)));
  report(withBaseline(`  latency p99 (max ${ms(served.maxMs)} ms)`, ms(served.p99Ms), 'ms', `bare p99 (max ${ms(bare.maxMs)} ms)`, ms(bare.p99Ms)));
}

export async function httpFigures(report: Report, x: HttpBenchInput): Promise<void> {
  const registrar = await startRegistrarProcess(x.bundle, { db: x.storeUrl, rootKeyFile: x.rootKeyFile, trustDir: x.trustDir });
  let bare: Awaited<ReturnType<typeof startBareServer>> | null = null;
  try {
    const url = registrar.url;
    // the big batch: one POST, checked and stored by the registrar process
    const manifest = manifestBytes(x.lines);
    // The same bytes signed by another key first: refused on the spooled copy before any line is read.
    let t = performance.now();
    const forged = await fetch(`${url}/v1/batches`, {
      method: 'POST', body: manifest,
      headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(manifest, generateEd25519().key, 'acme').signature },
    });
    const refusedMs = performance.now() - t;
    if (forged.status !== 400) throw new Error(`a wrongly signed batch got ${forged.status}`);
    const cpuBefore = await registrar.cpuSeconds();
    t = performance.now();
    const filed = await upload(url, x.maker, manifest);
    const uploadMs = performance.now() - t;
    // CPU time moves less than wall time with the machine's load
    const uploadCpu = (await registrar.cpuSeconds()) - cpuBefore;
    const uploadRate = x.lines.length / (uploadMs / 1000);
    if (filed !== x.lines.length) throw new Error(`upload filed ${filed} of ${x.lines.length}`);
    report(withBaseline(`prov batch upload+store ${x.lines.length} lines (${(manifest.length / 1e6).toFixed(0)} MB), ${x.storeName}`, r4(uploadRate), 'lines/s', `raw fileBatch insert ${x.storeName}`, r4(x.rawInsertRate)));
    report(withBaseline(`  the same upload against the RSA-verify floor`, r4(uploadRate), 'lines/s', `node:crypto verify of the lines' EK certificates, ${x.verifyFloor.threads} worker threads (all cores)`, r4(x.verifyFloor.rate)));
    report(withBaseline(`  the same bytes wrongly signed: refused in`, Math.round(refusedMs), 'ms', 'the signed upload', Math.round(uploadMs)));
    report(withBaseline(`  the registrar's CPU for the signed upload (all threads)`, Number(uploadCpu.toFixed(2)), 's', 'its wall time', Number((uploadMs / 1000).toFixed(2))));
    if (x.ingestOnly === true) return;

    // one HTTP call per device (Helium's onboarding server files one hotspot per call), as many
    // at once as the registrar lets one manufacturer run
    t = performance.now();
    await pool(x.singleLines, DEFAULT_UPLOADS_PER_MANUFACTURER, async (l) => {
      if ((await upload(url, x.maker, manifestBytes([l]))) !== 1) throw new Error('a one-line batch was not filed');
    });
    const perCall = x.singleLines.length / ((performance.now() - t) / 1000);
    report(withBaseline(`prov batch upload vs one call per device, ${x.storeName}`, r4(uploadRate), 'lines/s', `one HTTP call per device (fetch, ${DEFAULT_UPLOADS_PER_MANUFACTURER} parallel)`, r4(perCall)));
    if (!x.wrk) return;

    // bodies: challenges for filed devices (any number per device while it is not active)
    const challengeBodies = join(x.dir, 'challenge-bodies');
    await writeFile(challengeBodies, x.lines.slice(0, 2000).map((l) => {
      const d = JSON.parse(l) as { ekPublic: string; sealingPublic: string };
      return JSON.stringify({ ekPublic: d.ekPublic, sealingPublic: d.sealingPublic });
    }).join('\n') + '\n');
    // proofs: each for a challenge of its own device, answered with the EK's private key
    if ((await upload(url, x.maker, manifestBytes(x.activationLines))) !== x.activationLines.length) throw new Error('activation batch not filed');
    const proofs: string[] = [];
    let sampleChallenge = '';
    await pool(x.activationLines, 16, async (l, i) => {
      const d = JSON.parse(l) as { ekPublic: string; sealingPublic: string };
      const { doc, text } = await post<ChallengeResponse>(`${url}/v1/activation/challenge`, { ekPublic: d.ekPublic, sealingPublic: d.sealingPublic });
      sampleChallenge = text;
      const ek = x.activationEks[i % x.activationEks.length]!;
      const secret = activateCredential(ek.privateKey!, objectName(parsePublic(fromHex(d.sealingPublic))), fromHex(doc.credentialBlob), fromHex(doc.encryptedSecret));
      proofs.push(JSON.stringify({ challengeId: doc.challengeId, secret: Buffer.from(secret).toString('hex') }));
    });
    // one proof by fetch: the software TPM answers right, and the bare server gets the same bytes
    const sampleProof = (await post<ProofResponse>(`${url}/v1/activation/proof`, JSON.parse(proofs.pop()!))).text;
    const proofBodies = join(x.dir, 'proof-bodies');
    await writeFile(proofBodies, proofs.join('\n') + '\n');
    const health = await (await fetch(`${url}/v1/health`)).text();
    bare = await startBareServer({ '/v1/health': health, '/v1/activation/challenge': sampleChallenge, '/v1/activation/proof': sampleProof });

    const load = (base: string, path: string, extra: Partial<WrkLoad> = {}): WrkLoad => ({ url: `${base}${path}`, seconds: x.seconds, connections: CONNECTIONS, ...extra });
    const wrkLabel = `under wrk -t1 -c${CONNECTIONS}, ${x.storeName}`;
    const healthServed = valid('health', await runWrk(x.dir, load(url, '/v1/health')));
    const healthBare = valid('bare health', await runWrk(x.dir, load(bare.url, '/v1/health')));
    figures(report, `prov GET /v1/health ${wrkLabel}`, 'requests/s', healthServed, healthBare);

    const challengeServed = valid('challenge', await runWrk(x.dir, load(url, '/v1/activation/challenge', { bodies: challengeBodies })));
    const challengeBare = valid('bare challenge', await runWrk(x.dir, load(bare.url, '/v1/activation/challenge', { bodies: challengeBodies })));
    figures(report, `prov POST /v1/activation/challenge (2,000 devices) ${wrkLabel}`, 'challenges/s', challengeServed, challengeBare);

    // each proof once: wrk ends when they are used up (a bound of 120 s should the registrar be slow)
    const proofServed = valid('proof', await runWrk(x.dir, load(url, '/v1/activation/proof', { bodies: proofBodies, once: true, seconds: 120 })));
    const proofBare = valid('bare proof', await runWrk(x.dir, load(bare.url, '/v1/activation/proof', { bodies: proofBodies })));
    figures(report, `prov POST /v1/activation/proof (${proofServed.requests} activations) ${wrkLabel}`, 'activations/s', proofServed, proofBare);

    // against the parts' floor of the same run (in-process, one thread): each endpoint, and a
    // whole activation (a challenge and a proof per device, one server doing both)
    const f = x.activationFloor;
    report(withBaseline(`prov challenges under wrk vs their parts' floor, ${x.storeName}`, r4(challengeServed.rate), 'challenges/s', 'MakeCredential + store insert, in-process, one thread', r4(f.challenge)));
    report(withBaseline(`prov proofs under wrk vs their parts' floor, ${x.storeName}`, r4(proofServed.rate), 'activations/s', 'Ed25519 certificate + store check-and-mark, in-process, one thread', r4(f.proof)));
    const whole = 1 / (1 / challengeServed.rate + 1 / proofServed.rate);
    report(withBaseline(`prov whole activations (challenge + proof) under wrk, ${x.storeName}`, r4(whole), 'activations/s', 'the parts\' floor: MakeCredential + Ed25519 certificate + store writes, in-process, one thread', r4(f.activation)));
  } finally {
    await bare?.stop();
    await registrar.stop();
  }
}
