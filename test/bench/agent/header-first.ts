// Header-first against full delivery on the same agent, broker and TPM, interleaved rep by rep:
// bytes per node per block on the wire (MQTT 3.1.1 PUBLISH packets as the broker sends them, and
// a qualifier's SUBSCRIBE/UNSUBSCRIBE round trip for its body) and candidate-to-seal time from
// the moment the primary starts to publish (header-first: the body first, then the header).
import type { Block } from '../../../firmware/protocol/chain/block.ts';
import { splitCandidate } from '../../../firmware/protocol/chain/candidate-header.ts';
import { encodeCandidateFrame } from '../../../firmware/protocol/chain/candidate-wire.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { blockHash } from '../../../firmware/protocol/chain/block.ts';
import type { Topics } from '../../../firmware/protocol/topics.ts';
import type { MqttTransport } from '../../../firmware/transport/index.ts';
import { median, withBaseline, type Report } from '../report.ts';

export interface HeaderFirstRig {
  readonly clerkT: MqttTransport;
  readonly topics: Topics;
  /** A fresh candidate of `size` transactions on the current tip. */
  block(size: number): Block;
  /** The performance.now() at which this block's seal reached the clerk. */
  sealed(hashHex: string): Promise<number>;
  /** Publishes the block's final: the tip moves on. */
  finalize(block: Block): Promise<void>;
}

/** Bytes of an MQTT 3.1.1 PUBLISH at QoS 1 (fixed header, topic, packet id, payload). */
export function publishBytes(topic: string, payloadBytes: number): number {
  const remaining = 2 + Buffer.byteLength(topic) + 2 + payloadBytes;
  return 1 + varintBytes(remaining) + remaining;
}

/** A qualifier's fetch: SUBSCRIBE and SUBACK, UNSUBSCRIBE and UNSUBACK for one topic. */
export function fetchOverheadBytes(topic: string): number {
  const t = 2 + Buffer.byteLength(topic);
  const sub = 2 + t + 1;
  const unsub = 2 + t;
  return (1 + varintBytes(sub) + sub) + 5 + (1 + varintBytes(unsub) + unsub) + 4;
}

function varintBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

export async function benchHeaderFirst(report: Report, rig: HeaderFirstRig, sizes: readonly number[], reps: (size: number) => number): Promise<void> {
  const { clerkT, topics } = rig;
  for (const size of sizes) {
    const times = { full: [] as number[], 'header-first': [] as number[] };
    let full = 0;
    let header = 0;
    let qualifier = 0;
    for (let r = 0; r < reps(size); r++) {
      for (const mode of ['full', 'header-first'] as const) {
        const block = rig.block(size);
        const hash = toHex(blockHash(block.header));
        const sealed = rig.sealed(hash);
        const t0 = performance.now();
        if (mode === 'full') {
          const frame = encodeCandidateFrame(block);
          full = publishBytes(topics.candidates, frame.length);
          await clerkT.publish(topics.candidates, frame, { qos: 1 });
        } else {
          const split = splitCandidate(block);
          const bodyTopic = topics.body(hash);
          header = publishBytes(topics.candidates, split.frame.length);
          qualifier = header + publishBytes(bodyTopic, split.body.length) + fetchOverheadBytes(bodyTopic);
          await clerkT.publish(bodyTopic, split.body, { qos: 1, retain: true });
          await clerkT.publish(topics.candidates, split.frame, { qos: 1 });
        }
        times[mode].push((await sealed) - t0);
        if (mode === 'header-first') await clerkT.publish(topics.body(hash), '', { qos: 1, retain: true });
        await rig.finalize(block);
      }
    }
    report(withBaseline(`agent bytes per node per block, ${size} tx, header-first, not qualified`, header, 'bytes', 'full (binary)', full));
    report(withBaseline(`agent bytes per node per block, ${size} tx, header-first, qualified`, qualifier, 'bytes', 'full (binary)', full));
    report(withBaseline(`agent candidate-to-seal, ${size} tx, header-first`, Number(median(times['header-first']).toFixed(2)), 'ms', 'full (binary), interleaved', Number(median(times.full).toFixed(2))));
  }
}
