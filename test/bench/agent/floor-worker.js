// Bare node:crypto Ed25519 verification for the agent bench's floor: one worker per core,
// checks given as { spki, message, signature } byte arrays; KeyObjects are built before timing.
import { parentPort } from 'node:worker_threads';
import { createPublicKey, verify } from 'node:crypto';

let prepared = [];
parentPort.on('message', (m) => {
  if (m.type === 'load') {
    prepared = m.checks.map((c) => ({ key: createPublicKey({ key: Buffer.from(c.spki), format: 'der', type: 'spki' }), message: c.message, signature: c.signature }));
    parentPort.postMessage({ type: 'loaded' });
  } else if (m.type === 'run') {
    let bad = 0;
    for (const c of prepared) if (!verify(null, c.message, c.key, c.signature)) bad++;
    parentPort.postMessage({ type: 'done', bad });
  }
});
