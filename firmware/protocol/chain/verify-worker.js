// Ed25519 verification worker for verify-pool.ts. Plain JavaScript with node:crypto only, so it
// loads unchanged under tsx, in tests and next to a bundle.
//
// Batch layout (packed by verify-pool.ts, big-endian):
//   count x ( u16 messageLength || publicKey (32) || signature (64) || message )
// Reply: { id, bad } where bad is the index of the first invalid signature in the batch, or -1.
//
// Transaction batches ({ kind: 'txs' }, tx-checks.ts says what is checked):
//   count x ( u8 hasSecondKey || [secondPublicKey (32)] || u16 length || canonical transaction )
// Reply: { id, ids, root, bad, which }: ids = count x SHA-256 of the canonical bytes, root = the
// Merkle root of this batch's leaves (merkle.ts: leaf SHA-256(0x00 || id), node
// SHA-256(0x01 || l || r), an odd last node promoted), bad = the first transaction whose
// signature (which 0) or second signature (which 1) does not verify, or -1.
import { parentPort } from 'node:worker_threads';
import { createHash, createPublicKey, verify } from 'node:crypto';

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

// transaction.ts: body = type (1) || timestamp (4) || sender (32) || recipient, amount, fee (24)
const BODY = 61;
const SENDER_AT = 5;
const FLAG_AT = BODY + 64;
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

function keyOf(keys, pub) {
  const tag = pub.toString('latin1');
  let key = keys.get(tag);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
    keys.set(tag, key);
  }
  return key;
}

function verifies(keys, pub, msg, sig) {
  try {
    return sig.length === 64 && verify(null, msg, keyOf(keys, pub), sig);
  } catch {
    return false;
  }
}

function checkTransactions(buf, count) {
  const b = Buffer.from(buf);
  const keys = new Map();
  const ids = new Uint8Array(count * 32);
  let level = [];
  let bad = -1;
  let which = 0;
  let off = 0;
  for (let i = 0; i < count; i++) {
    const second = b[off] === 1 ? b.subarray(off + 1, off + 33) : null;
    off += second === null ? 1 : 33;
    const len = b.readUInt16BE(off);
    const tx = b.subarray(off + 2, off + 2 + len);
    off += 2 + len;
    const id = createHash('sha256').update(tx).digest();
    ids.set(id, i * 32);
    level.push(createHash('sha256').update(LEAF).update(id).digest());
    if (bad >= 0) continue; // ids are still needed; signatures past the first bad one are not
    if (len < FLAG_AT + 1 || !verifies(keys, tx.subarray(SENDER_AT, SENDER_AT + 32), tx.subarray(0, BODY), tx.subarray(BODY, FLAG_AT))) {
      bad = i;
      which = 0;
    } else if (second !== null && !verifies(keys, second, tx.subarray(0, FLAG_AT), tx[FLAG_AT] === 1 ? tx.subarray(FLAG_AT + 1, FLAG_AT + 65) : Buffer.alloc(0))) {
      bad = i;
      which = 1;
    }
  }
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? createHash('sha256').update(NODE).update(level[i]).update(level[i + 1]).digest() : level[i]);
    level = next;
  }
  const root = new Uint8Array(32);
  if (level.length === 1) root.set(level[0]);
  return { ids: ids.buffer, root: root.buffer, bad, which };
}

parentPort.on('message', (job) => {
  if (job.kind === 'txs') {
    const r = checkTransactions(job.buf, job.count);
    parentPort.postMessage({ id: job.id, ...r }, [r.ids, r.root]);
    return;
  }
  parentPort.postMessage({ id: job.id, bad: firstInvalid(job.buf, job.count) });
});
