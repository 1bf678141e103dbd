// EK certificate signature worker for cert-verify-pool.ts. Plain JavaScript with node:crypto
// only, so it loads unchanged under tsx, in tests and next to a bundle.
// workerData: { caKeys: Uint8Array[] } (SPKI DER of the trusted CAs, in TrustStore order).
// Message: { id, jobs: [{ candidates: number[], hash: string, tbs: Uint8Array, signature: Uint8Array }] }
// Reply:   { id, verified: Int32Array } (index of the CA whose key verified each job, or -1).
import { parentPort, workerData } from 'node:worker_threads';
import { createPublicKey, verify } from 'node:crypto';

const keys = workerData.caKeys.map((der) => createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }));

parentPort.on('message', ({ id, jobs }) => {
  const verified = new Int32Array(jobs.length).fill(-1);
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i];
    for (const ca of job.candidates) {
      let ok = false;
      try {
        ok = verify(job.hash, job.tbs, keys[ca], job.signature);
      } catch {
        ok = false;
      }
      if (ok) {
        verified[i] = ca;
        break;
      }
    }
  }
  parentPort.postMessage({ id, verified }, [verified.buffer]);
});
