// The floors the registrar's figures are held against, measured in the same run:
//   - activation: its irreducible parts called directly in the bench process (one thread, 16 in
//     flight like wrk's connections): for a challenge, MakeCredential + the store's insert; for
//     a proof, the Ed25519 registration certificate + the store's check-and-mark (group commit
//     as the server has it). No HTTP, no JSON bodies, no parsing of public areas, no PEM: those
//     are the costs the served figure adds.
//   - ingest: the RSA signature of every line's EK certificate, verified by node:crypto in one
//     worker thread per core, nothing else.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { makeCredential } from '../../provisioning/credential.ts';
import type { Ed25519Key } from '../../provisioning/keys.ts';
import { parseCertificate } from '../../provisioning/manifest/x509.ts';
import { issueRegistrationCertificate } from '../../provisioning/registration/certificate.ts';
import type { NewDevice, ProvisioningStore } from '../../provisioning/store/index.ts';
import { objectName, parsePublic, publicKeyPem } from '../../tpm/public-area.ts';

export interface ActivationFloor {
  /** MakeCredential + store insert of the challenge, per second. */
  readonly challenge: number;
  /** Ed25519 certificate + store check-and-mark, per second. */
  readonly proof: number;
  /** Both, per device: 1 / (1/challenge + 1/proof). */
  readonly activation: number;
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

/** Runs the parts for each of `devices` (filed in `store`, not yet active). */
export async function activationFloor(store: ProvisioningStore, devices: readonly NewDevice[], root: Ed25519Key): Promise<ActivationFloor> {
  // Parsed before the clock starts: parsing and PEM are not floor costs.
  const prepared = devices.map((d) => {
    const sealing = parsePublic(d.sealingPublic);
    return { d, ek: parsePublic(d.ekPublic), name: objectName(sealing), pem: publicKeyPem(sealing), id: randomBytes(16).toString('hex') };
  });
  const secrets: Uint8Array[] = [];
  let t = performance.now();
  await pool(prepared, 16, async (p, i) => {
    const secret = new Uint8Array(randomBytes(32));
    makeCredential({ ekPublic: p.ek, name: p.name, secret });
    const secretHash = new Uint8Array(createHash('sha256').update(secret).digest());
    secrets[i] = secretHash;
    await store.createChallenge({ id: p.id, ekName: p.d.ekName, secretHash, createdAt: 0, expiresAt: 8e15, usedAt: null, generation: 0 });
  });
  const challenge = prepared.length / ((performance.now() - t) / 1000);
  const now = Date.now();
  t = performance.now();
  await pool(prepared, 16, async (p, i) => {
    const certificate = issueRegistrationCertificate(root, {
      nodeId: p.d.nodeId, sealingPublicKey: p.pem, ekName: p.d.ekName, board: p.d.board, serial: p.d.serial,
      issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 3.15e11).toISOString(),
    });
    const r = await store.completeActivation({ challengeId: p.id, secretHash: secrets[i]!, ekName: p.d.ekName, certificate: JSON.stringify(certificate), now: now + 1 });
    if (!r.ok) throw new Error(`activation floor: ${r.reason}`);
  });
  const proof = prepared.length / ((performance.now() - t) / 1000);
  return { challenge, proof, activation: 1 / (1 / challenge + 1 / proof) };
}

const VERIFY_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const key = createPublicKey({ key: Buffer.from(workerData.ca), format: 'der', type: 'spki' });
parentPort.once('message', (count) => {
  const jobs = workerData.jobs;
  for (let i = 0; i < count; i++) {
    const j = jobs[i % jobs.length];
    if (!verify(j.hash, j.tbs, key, j.signature)) throw new Error('a certificate did not verify');
  }
  parentPort.postMessage(count);
});
parentPort.postMessage('ready');
`;

/** node:crypto verifications per second of these EK certificates' signatures (base64 DER, issued by caDir's key), one worker per core. */
export async function rsaVerifyFloor(certificates: readonly string[], caDir: string, total: number): Promise<{ rate: number; threads: number }> {
  const ca = createPublicKey(createPrivateKey(await readFile(join(caDir, 'signkey.pem')))).export({ format: 'der', type: 'spki' });
  const jobs = certificates.map((c) => {
    const p = parseCertificate(new Uint8Array(Buffer.from(c, 'base64')));
    if (p === null) throw new Error('rsa floor: a certificate does not parse');
    return { hash: p.hash, tbs: p.tbs, signature: p.signature };
  });
  const threads = availableParallelism();
  const workers = Array.from({ length: threads }, () => new Worker(VERIFY_WORKER, { eval: true, workerData: { ca, jobs } }));
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    })));
    const share = Math.ceil(total / threads);
    const t = performance.now();
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
      w.postMessage(share);
    })));
    return { rate: (share * threads) / ((performance.now() - t) / 1000), threads };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
