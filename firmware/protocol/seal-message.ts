// The seal a secondary node sends to a clerk (docs/protocol.md step 2): which block, which round,
// the RSASSA-PKCS1-v1_5-SHA256 signature over lotteryMessage(blockHash, round), and the node's
// root-signed registration, whose sealing key is the only key the clerk verifies it under.
import { anyObject, hex, integer, literal, map, nullable, object, optional } from '../core/json.ts';
import { toHex } from '../core/bytes.ts';
import { MESSAGE_ID, messageSchema, type Json, type ProtocolSchema } from './message-schema.ts';

export interface SealMessage {
  readonly nodeId: string;
  readonly height: number;
  readonly blockHash: Uint8Array;
  /** Fingerprint of the clerk the seal is addressed to. */
  readonly clerk: string;
  readonly round: number;
  readonly signature: Uint8Array;
  /** Registration certificate as issued by the root node (verified by the clerk), or null in an unregistered devnet. */
  readonly registration: Json | null;
  /** Milliseconds since the epoch after which the seal is worthless (the round deadline). */
  readonly expiresAt: number;
}

export const MAX_SEAL_MESSAGE_BYTES = 16 * 1024;

export function encodeSealMessage(seal: SealMessage): string {
  return JSON.stringify({
    v: 1,
    nodeId: seal.nodeId,
    height: seal.height,
    blockHash: toHex(seal.blockHash),
    clerk: seal.clerk,
    round: seal.round,
    signature: toHex(seal.signature),
    registration: seal.registration,
    expiresAt: seal.expiresAt,
  });
}

/** A seal: from bytes (parse) or from the value the transport parsed under MAX_SEAL_MESSAGE_BYTES (read). */
export const sealMessage: ProtocolSchema<SealMessage> = messageSchema('seal', MAX_SEAL_MESSAGE_BYTES, map(object({
  v: literal(1),
  nodeId: MESSAGE_ID,
  height: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  blockHash: hex({ bytes: 32 }),
  clerk: MESSAGE_ID,
  round: integer({ min: 0, max: 0xffff_ffff }),
  signature: hex({ min: 64, max: 512 }),
  // checked by the registration's own reader when a clerk or node trusts it
  registration: optional(nullable(anyObject({ maxKeys: 32 }))),
  expiresAt: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
}), (s): SealMessage => ({
  nodeId: s.nodeId, height: s.height, blockHash: s.blockHash, clerk: s.clerk, round: s.round, signature: s.signature, registration: s.registration ?? null, expiresAt: s.expiresAt,
})));
