// Ed25519 verification worker for verify-pool.ts. Plain JavaScript with node:crypto only, so it
// loads unchanged under tsx, in tests and next to a bundle.
//
// Batch layout (packed by verify-pool.ts, big-endian):
//   count x ( u16 messageLength || publicKey (32) || signature (64) || message )
// Reply: { id, bad } where bad is the index of the first invalid signature in the batch, or -1.
import { parentPort } from 'node:worker_threads';
import { createPublicKey, verify } from 'node:crypto';

// RFC 8410 SPKI prefix for a raw Ed25519 public key.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function firstInvalid(buf, count) {
  const b = Buffer.from(buf);
  const keys = new Map();
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 98 > b.length) return i;
    const len = b.readUInt16BE(off);
    off += 2;
    const pub = b.subarray(off, off + 32);
    off += 32;
    const sig = b.subarray(off, off + 64);
    off += 64;
    if (off + len > b.length) return i;
    const msg = b.subarray(off, off + len);
    off += len;
    let ok = false;
    try {
      // Creating the key object costs as much as the verification: reuse it per sender.
      const tag = pub.toString('latin1');
      let key = keys.get(tag);
      if (key === undefined) {
        key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
        keys.set(tag, key);
      }
      ok = verify(null, msg, key, sig);
    } catch {
      ok = false;
    }
    if (!ok) return i;
  }
  return -1;
}

parentPort.on('message', (job) => {
  parentPort.postMessage({ id: job.id, bad: firstInvalid(job.buf, job.count) });
});
