// The committee's announcement that a block is final (third state, docs/protocol.md step 4),
// published retained on <prefix>/final with the votes that make it so (a quorum certificate,
// quorum.ts). A node takes it as its new chain tip and low watermark (nothing at or below
// `height` is sealed again, docs/seal-journal.md) only once at least `quorum` distinct committee
// members' votes verify; whoever published the message does not matter.
import { array, hex, hexText, integer, literal, map, object } from '../core/json.ts';
import { MAX_COMMITTEE, type Vote } from './quorum.ts';
import { MESSAGE_ID, messageSchema, type ProtocolSchema } from './message-schema.ts';
import { toHex } from '../core/bytes.ts';

export interface FinalMessage {
  readonly height: number;
  readonly hash: Uint8Array;
  /** Unix ms of the final block's header. */
  readonly timestamp: number;
  /** Fingerprint of the clerk whose block was finalized. */
  readonly clerk: string;
  /** Node ids whose seals were counted for the block, best first. */
  readonly sealedBy: readonly string[];
  /** The committee members' signed votes for (network, height, hash, timestamp). */
  readonly votes: readonly Vote[];
}

/** 1,024 votes of ~200 bytes and 256 sealers fit. */
export const MAX_FINAL_MESSAGE_BYTES = 320 * 1024;
const MAX_SEALERS = 256;

export function encodeFinalMessage(m: FinalMessage): string {
  return JSON.stringify({
    v: 2,
    height: m.height,
    hash: toHex(m.hash),
    timestamp: m.timestamp,
    clerk: m.clerk,
    sealedBy: m.sealedBy,
    votes: m.votes.map((v) => ({ member: v.member, signature: v.signature })),
  });
}

/** A final message: from bytes (parse) or from the value the transport parsed under its cap (read). */
export const finalMessage: ProtocolSchema<FinalMessage> = messageSchema('final', MAX_FINAL_MESSAGE_BYTES, map(object({
  v: literal(2),
  height: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  hash: hex({ bytes: 32 }),
  timestamp: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  clerk: MESSAGE_ID,
  sealedBy: array(MESSAGE_ID, { max: MAX_SEALERS }),
  votes: array(object({ member: hexText({ bytes: 32 }), signature: hexText({ bytes: 64 }) }), { max: MAX_COMMITTEE }),
}), (f): FinalMessage => ({ height: f.height, hash: f.hash, timestamp: f.timestamp, clerk: f.clerk, sealedBy: f.sealedBy, votes: f.votes })));
