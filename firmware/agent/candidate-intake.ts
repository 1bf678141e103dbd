// A candidate as it comes off the candidates topic, read and tested up to the point a ticket may
// be spun: a full candidate (binary frame or JSON) is tested in full here; a header frame
// (header-first delivery) has its header tested here and its body fetched and tested only if a
// ticket qualifies (header-first.ts). Told apart by the first byte, so a node takes either
// whatever the manifest says, and a network can change its delivery without a flag day.
import type { Clock } from '../core/clock.ts';
import { decodeCandidateHeader, isHeaderFrame } from '../protocol/chain/candidate-header.ts';
import { decodeCandidate } from '../protocol/chain/candidate-wire.ts';
import { ChainError } from '../protocol/chain/errors.ts';
import { validateCandidate, validateHeader, type RejectReason, type ValidationContext } from '../protocol/chain/validate.ts';
import type { Topics } from '../protocol/topics.ts';
import type { BlockTest } from '../sealing/engine.ts';
import { headerBlockTest, type BodyTransport } from './header-first.ts';

/** What a spin needs to know of a candidate that passed what can be tested before a ticket. */
export interface TakenCandidate {
  readonly height: number;
  readonly hash: Uint8Array;
  readonly clerkPublicKey: Uint8Array;
  /** Header-first only: the body's fetch and full test, asked for when a ticket qualifies. */
  readonly testBlock?: (signal: AbortSignal, deadline: number) => () => Promise<BlockTest>;
}

export type Intake =
  | { readonly ok: true; readonly candidate: TakenCandidate }
  | { readonly ok: false; readonly height?: number; readonly code: string; readonly message: string; readonly reason?: RejectReason };

export interface IntakeDeps {
  readonly transport: BodyTransport;
  readonly topics: Pick<Topics, 'body'>;
  readonly clock: Pick<Clock, 'now' | 'sleep'>;
  readonly onFetch?: (hash: string) => void;
}

export async function takeCandidate(payload: Uint8Array, ctx: ValidationContext, deps: IntakeDeps): Promise<Intake> {
  const caps = ctx.params.caps;
  if (isHeaderFrame(payload)) {
    let candidate;
    try {
      candidate = decodeCandidateHeader(payload, caps);
    } catch (err) {
      return decodeRefusal(err);
    }
    const { header } = candidate;
    const result = validateHeader(header, ctx);
    if (!result.ok) return { ok: false, height: header.height, code: result.reason.code, message: result.reason.message, reason: result.reason };
    return {
      ok: true,
      candidate: {
        height: header.height, hash: result.hash, clerkPublicKey: header.clerkPublicKey,
        testBlock: (signal, deadline) => headerBlockTest({ ...deps, candidate, ctx, deadline, signal }),
      },
    };
  }
  let decoded;
  try {
    decoded = decodeCandidate(payload, caps);
  } catch (err) {
    return decodeRefusal(err);
  }
  const { block } = decoded;
  const result = await validateCandidate(block, ctx, decoded.encodings);
  if (!result.ok) return { ok: false, height: block.header.height, code: result.reason.code, message: result.reason.message, reason: result.reason };
  return { ok: true, candidate: { height: block.header.height, hash: result.hash, clerkPublicKey: block.header.clerkPublicKey } };
}

function decodeRefusal(err: unknown): Intake {
  if (!(err instanceof ChainError)) throw err;
  return { ok: false, code: err.code === 'ERR_CHAIN_OVERSIZE' ? 'oversize' : err.code === 'ERR_CHAIN_WIRE_VERSION' ? 'wire-version' : 'malformed', message: err.message };
}
