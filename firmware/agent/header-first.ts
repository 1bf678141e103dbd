// Header-first delivery, the node's side (docs/protocol.md, "Header-first delivery"): the ticket
// is spun on the header alone; only when it qualifies does the node fetch the body from the
// retained body topic, check it against the header's commitment, test the joined block exactly
// as a full candidate is tested, and only then let the seal be recorded. A node whose ticket does
// not qualify never subscribes to the body.
import { toHex } from '../core/bytes.ts';
import type { Clock } from '../core/clock.ts';
import { joinBody, type CandidateHeader } from '../protocol/chain/candidate-header.ts';
import { validateCandidate, type ValidationContext } from '../protocol/chain/validate.ts';
import type { Topics } from '../protocol/topics.ts';
import type { BlockTest } from '../sealing/engine.ts';
import type { MqttTransport } from '../transport/mqtt-transport.ts';

export type BodyTransport = Pick<MqttTransport, 'subscribe'>;

export type BodyFetch = { readonly ok: true; readonly body: Uint8Array } | { readonly ok: false; readonly code: 'body-oversize' | 'body-missing'; readonly message: string };

export interface BodyFetchOptions {
  readonly transport: BodyTransport;
  readonly topic: string;
  /** The size the header announced: a larger body is refused by the transport before it is read. */
  readonly bodyBytes: number;
  /** How long to wait for the body (the seal's deadline is the most worth waiting). */
  readonly waitMs: number;
  readonly clock: Pick<Clock, 'sleep'>;
  readonly signal?: AbortSignal;
}

/**
 * Subscribes to one body topic, takes the first message (the retained body) and unsubscribes.
 * Never waits past waitMs: a body that does not come is 'body-missing'.
 */
export function fetchBody(o: BodyFetchOptions): Promise<BodyFetch> {
  if (o.bodyBytes === 0) return Promise.resolve({ ok: true, body: new Uint8Array(0) });
  return new Promise<BodyFetch>((resolve) => {
    const stop = new AbortController();
    let settled = false;
    let unsubscribe: (() => void) | null = null;
    const settle = (r: BodyFetch): void => {
      if (settled) return;
      settled = true;
      stop.abort();
      unsubscribe?.();
      resolve(r);
    };
    const missing = (why: string): BodyFetch => ({ ok: false, code: 'body-missing', message: `no body on ${o.topic}: ${why}` });
    unsubscribe = o.transport.subscribe<Uint8Array>(o.topic, (m) => {
      // An empty payload is the primary clearing the body (its block is final or given up).
      settle(m.value.length === 0 ? missing('the body was cleared') : { ok: true, body: m.value });
    }, {
      qos: 1, raw: true, maxBytes: o.bodyBytes,
      // The cap is the announced size, or the device's ceiling when that is lower.
      onOversize: (bytes, cap) => settle({ ok: false, code: 'body-oversize', message: `body of ${bytes} bytes on ${o.topic}, above the cap of ${cap} (the header announced ${o.bodyBytes})` }),
    });
    if (settled) unsubscribe();
    const signal = o.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, o.signal]);
    void o.clock.sleep(Math.max(0, o.waitMs), signal).then(() => settle(missing(o.signal?.aborted ? `given up (${String(o.signal.reason)})` : `none within ${o.waitMs} ms`)));
  });
}

export interface HeaderTestOptions {
  readonly transport: BodyTransport;
  readonly topics: Pick<Topics, 'body'>;
  readonly candidate: CandidateHeader;
  readonly ctx: ValidationContext;
  readonly clock: Pick<Clock, 'now' | 'sleep'>;
  /** Clock time after which a seal is worthless: the fetch waits no longer. */
  readonly deadline: number;
  readonly signal: AbortSignal;
  /** Told when the body is asked for (a node's counters and the tests that a non-qualifier never asks). */
  readonly onFetch?: (hash: string) => void;
}

/** The engine's testBlock for a candidate that came as a header: fetch, check the commitment, test in full. */
export function headerBlockTest(o: HeaderTestOptions): () => Promise<BlockTest> {
  return async () => {
    const hash = toHex(o.candidate.hash);
    o.onFetch?.(hash);
    const fetched = await fetchBody({
      transport: o.transport, topic: o.topics.body(hash), bodyBytes: o.candidate.bodyBytes, waitMs: o.deadline - o.clock.now(), clock: o.clock, signal: o.signal,
    });
    if (!fetched.ok) return fetched;
    const joined = joinBody(o.candidate, fetched.body, o.ctx.params.caps);
    if (!joined.ok) return joined;
    // The same test a full candidate gets, on the joined block.
    const result = await validateCandidate(joined.block, o.ctx, joined.encodings);
    return result.ok ? { ok: true } : { ok: false, code: result.reason.code, message: `body fetched, block refused: ${result.reason.message}` };
  };
}
