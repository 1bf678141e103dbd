// How the reference primary puts a candidate on the broker, as the manifest's candidateDelivery
// says (docs/protocol.md): 'full' publishes the whole candidate, retained, to every node;
// 'header-first' publishes the body retained on its own topic first (so it is there before any
// node can qualify), then the header frame, retained, to every node; the body is cleared once its
// block is final or given up. Header-first frames are binary only: the JSON form is for people.
import type { Logger } from 'pino';
import { toHex } from '../core/bytes.ts';
import type { Block } from '../protocol/chain/block.ts';
import { splitCandidate } from '../protocol/chain/candidate-header.ts';
import { encodeCandidate, type CandidateEncoding } from '../protocol/chain/candidate-wire.ts';
import { candidateDeliveryOf, type NetworkParams } from '../protocol/params.ts';
import type { Topics } from '../protocol/topics.ts';
import type { PrimaryTransport } from './primary-types.ts';

/** Bytes one candidate put on the broker: what every node gets, and what only a qualifier fetches. */
export interface CandidateBytes {
  readonly toEveryNode: number;
  readonly toQualifiers: number;
}

export class CandidatePublisher {
  readonly #transport: PrimaryTransport;
  readonly #topics: Topics;
  readonly #params: NetworkParams;
  readonly #encoding: CandidateEncoding;
  readonly #log: Logger;
  /** Body topics still retained on the broker (header-first). */
  readonly #bodies = new Set<string>();

  constructor(o: { transport: PrimaryTransport; topics: Topics; params: NetworkParams; encoding?: CandidateEncoding; log: Logger }) {
    this.#transport = o.transport;
    this.#topics = o.topics;
    this.#params = o.params;
    this.#encoding = o.encoding ?? 'binary';
    this.#log = o.log;
  }

  /** Puts the candidate out (without waiting for the broker); returns its bytes. */
  publish(block: Block, hash: Uint8Array): CandidateBytes {
    const caps = { maxTxs: this.#params.maxBlockTxs, maxBlockBytes: this.#params.maxBlockBytes };
    const height = block.header.height;
    if (candidateDeliveryOf(this.#params) === 'full') {
      // Retained: the current candidate reaches a node that (re)subscribes while it is open.
      const payload = encodeCandidate(block, this.#encoding, caps);
      this.#send(this.#topics.candidates, payload, height, 'candidate');
      return { toEveryNode: typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length, toQualifiers: 0 };
    }
    const split = splitCandidate(block, caps);
    const bodyTopic = this.#topics.body(toHex(hash));
    this.#bodies.add(bodyTopic);
    // The body first and acknowledged, then the header: a node that qualifies finds its body there.
    void this.#transport.publish(bodyTopic, split.body, { qos: 1, retain: true }).then((outcome) => {
      if (outcome !== 'delivered') this.#log.warn({ height, outcome }, 'candidate body not delivered');
      this.#send(this.#topics.candidates, split.frame, height, 'candidate header');
    });
    return { toEveryNode: split.frame.length, toQualifiers: split.body.length };
  }

  /** Clears the body of a block that is final or given up: an empty retained payload deletes it [MQTT-3.3.1-10]. */
  async retire(hash: Uint8Array): Promise<void> {
    const topic = this.#topics.body(toHex(hash));
    if (!this.#bodies.delete(topic)) return;
    await this.#transport.publish(topic, '', { qos: 1, retain: true }).catch(() => 'rejected');
  }

  /** Clears every body still retained (the primary stops). */
  async retireAll(): Promise<void> {
    const topics = [...this.#bodies];
    this.#bodies.clear();
    await Promise.all(topics.map((t) => this.#transport.publish(t, '', { qos: 1, retain: true }).catch(() => 'rejected')));
  }

  #send(topic: string, payload: Uint8Array | string, height: number, what: string): void {
    void this.#transport.publish(topic, payload, { qos: 1, retain: true }).then((outcome) => {
      if (outcome !== 'delivered') this.#log.warn({ height, outcome }, `${what} not delivered`);
    });
  }
}
