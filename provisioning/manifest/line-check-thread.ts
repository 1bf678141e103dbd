// The worker of line-check-pool.ts: checks chunks of manifest lines against the anchors it was
// started with. Message: { id, bytes, ends, now } (a LineChunk); reply: { id, results: CheckedLine[] }.
import { parentPort, workerData } from 'node:worker_threads';
import { checkChunk } from './line-chunk.ts';
import { TrustStore } from './trust.ts';

const trust = TrustStore.fromPem((workerData as { trustPem: string }).trustPem);

parentPort!.on('message', ({ id, bytes, ends, now }: { id: number; bytes: Uint8Array<ArrayBuffer>; ends: Int32Array<ArrayBuffer>; now: number }) => {
  parentPort!.postMessage({ id, results: checkChunk({ bytes, ends }, trust, now) });
});
