// The checks of a seal. A clerk counts a seal only when it parses, is addressed to this clerk, is
// for the open candidate (height and hash), has not expired, is the node's first for it, its
// ticket has at least sealZeros leading zero bits, its node has a TRUSTED sealing key (from the
// node's root-signed registration, never a key that travels with the seal) and is not revoked,
// and the signature over lotteryMessage(blockHash, round) verifies under that key. A secondary
// node judges other nodes' seals by the same judgeSeal(). Cheap checks first: a flood of junk
// costs a hash, not an RSA verification.
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { bytesEqual, toHex } from '../core/bytes.ts';
import { lotteryMessage, scoreTicket, type TicketScore } from './chain/lottery.ts';
import { rsaVerify } from './chain/primaries.ts';
import { sealMessage, type SealMessage } from './seal-message.ts';
import { ProtocolError } from './errors.ts';

/** Where a clerk finds the sealing key it trusts for a seal's node. */
export interface SealAuthority {
  /** `code: 'revoked'` turns the rejection into `revoked` (the node was known, and is no longer trusted). */
  keyFor(seal: SealMessage): { readonly ok: true; readonly key: KeyObject } | { readonly ok: false; readonly reason: string; readonly code?: string };
}

export type SealRejectCode =
  | 'malformed' // not a seal message (the parser's reason in detail)
  | 'wrong-clerk' // addressed to another clerk
  | 'wrong-sender' // its topic names another node than the seal (the broker pins the topic to the publisher)
  | 'no-candidate' // no candidate is open
  | 'wrong-block' // another height or hash than the open candidate
  | 'expired' // expiresAt has passed (the round deadline)
  | 'duplicate' // this node already sealed the open candidate
  | 'unregistered' // the authority has no trusted key for the node
  | 'revoked' // the node's registration is on the root's signed revocation list
  | 'low-zeros' // ticket below sealZeros
  | 'bad-signature'; // does not verify under the node's trusted key

export const SEAL_REJECT_CODES: readonly SealRejectCode[] = [
  'malformed', 'wrong-clerk', 'wrong-sender', 'no-candidate', 'wrong-block', 'expired', 'duplicate', 'unregistered', 'revoked', 'low-zeros', 'bad-signature',
];

export interface SealReject {
  readonly code: SealRejectCode;
  readonly message: string;
  readonly nodeId?: string;
}

export interface AcceptedSeal {
  readonly seal: SealMessage;
  readonly score: TicketScore;
  /** The trusted key the seal verified under. */
  readonly key: KeyObject;
}

export type SealCheck = { readonly ok: true; readonly accepted: AcceptedSeal } | { readonly ok: false; readonly reason: SealReject };

/** What the clerk has open when a seal arrives. */
export interface OpenCandidate {
  readonly height: number;
  readonly hash: Uint8Array;
  /** Fingerprint of the candidate's clerk. */
  readonly clerk: string;
  /** Nodes whose seal for this candidate was already accepted. */
  readonly sealedBy: ReadonlySet<string>;
}

export interface SealCheckContext {
  /** The clerk whose topic the seal came in on. */
  readonly clerk: string;
  /** The node its topic names as the sender (topics.sealFrom), when known. */
  readonly sender?: string | null;
  readonly candidate: OpenCandidate | null;
  readonly sealZeros: number;
  readonly authority: SealAuthority;
  /** Unix ms. */
  readonly now: number;
}

/**
 * Parses (JSON text or bytes) and checks one seal; never throws on bad input. A seal the transport
 * already read through sealMessage goes to checkParsedSeal.
 */
export function checkSeal(payload: Uint8Array | string, ctx: SealCheckContext): SealCheck {
  let seal: SealMessage;
  try {
    seal = sealMessage.parse(payload);
  } catch (err) {
    const message = err instanceof ProtocolError ? err.message : 'seal is not parseable';
    return reject('malformed', message);
  }
  return checkParsedSeal(seal, ctx);
}

export function checkParsedSeal(seal: SealMessage, ctx: SealCheckContext): SealCheck {
  const node = seal.nodeId;
  if (seal.clerk !== ctx.clerk) return reject('wrong-clerk', `seal for clerk ${short(seal.clerk)} arrived for clerk ${short(ctx.clerk)}`, node);
  if (ctx.sender !== undefined && ctx.sender !== node) return reject('wrong-sender', `seal of node ${short(node)} arrived on the topic of ${ctx.sender === null ? 'no node' : `node ${short(ctx.sender)}`}`, node);
  const c = ctx.candidate;
  if (c === null || c.clerk !== ctx.clerk) return reject('no-candidate', `clerk ${short(ctx.clerk)} has no open candidate`, node);
  if (seal.height !== c.height || !bytesEqual(seal.blockHash, c.hash)) {
    return reject('wrong-block', `seal for height ${seal.height} block ${short(toHex(seal.blockHash))}, open candidate is height ${c.height} block ${short(toHex(c.hash))}`, node);
  }
  if (seal.expiresAt <= ctx.now) return reject('expired', `seal expired at ${seal.expiresAt}, now ${ctx.now}`, node);
  if (c.sealedBy.has(node)) return reject('duplicate', `node ${node} already sealed this candidate`, node);
  return judgeSeal(seal, ctx.sealZeros, ctx.authority);
}

/**
 * The one judgement of a seal's ticket, shared by the clerks (after their candidate checks above)
 * and by every secondary node deciding whether another node's seal is competition that stops its
 * own spinning (competingSeal below). In order of cost: the ticket's zero bits (one SHA-256), the
 * trusted key for the node (a cached registration check and the revocation list), and only then
 * the RSA signature.
 */
export function judgeSeal(seal: SealMessage, sealZeros: number, authority: SealAuthority): SealCheck {
  const node = seal.nodeId;
  const score = scoreTicket(seal.signature, seal.round);
  if (score.zeros < sealZeros) return reject('low-zeros', `ticket has ${score.zeros} leading zero bits, needs ${sealZeros}`, node);
  const trusted = authority.keyFor(seal);
  if (!trusted.ok && trusted.code === 'revoked') return reject('revoked', `node ${node} is revoked: ${trusted.reason}`, node);
  if (!trusted.ok) return reject('unregistered', `no trusted sealing key for node ${node}: ${trusted.reason}`, node);
  if (!rsaVerify(trusted.key, lotteryMessage(seal.blockHash, seal.round), seal.signature)) {
    return reject('bad-signature', `signature does not verify under node ${node}'s registered sealing key`, node);
  }
  return { ok: true, accepted: { seal, score, key: trusted.key } };
}

export type CompetingSeal = { readonly ok: true; readonly score: TicketScore } | { readonly ok: false; readonly reason: SealReject };

/**
 * Whether another node's seal counts as competition for a secondary node: judgeSeal under the
 * node's authority. Without one (an unprovisioned devnet) there is no key to trust, and a
 * qualifying ticket counts unverified: that is why anyone on such a network's broker can stop it.
 */
export function competingSeal(seal: SealMessage, sealZeros: number, authority: SealAuthority | null): CompetingSeal {
  if (authority !== null) {
    const r = judgeSeal(seal, sealZeros, authority);
    return r.ok ? { ok: true, score: r.accepted.score } : r;
  }
  const score = scoreTicket(seal.signature, seal.round);
  if (score.zeros < sealZeros) return { ok: false, reason: { code: 'low-zeros', message: `ticket has ${score.zeros} leading zero bits, needs ${sealZeros}`, nodeId: seal.nodeId } };
  return { ok: true, score };
}

/**
 * An authority from a fixed list of sealing keys by node id: the clerks of an unprovisioned devnet
 * know the keys of the agents it started. A provisioned network uses RegistrationAuthority, which
 * checks the root-signed registration in `seal.registration` instead.
 */
export class StaticSealAuthority implements SealAuthority {
  readonly #keys = new Map<string, KeyObject>();

  constructor(entries: Iterable<readonly [string, KeyObject | string]> = []) {
    for (const [nodeId, key] of entries) this.register(nodeId, key);
  }

  /** A public key (KeyObject or PEM); RSA only, as the lottery requires. */
  register(nodeId: string, key: KeyObject | string): void {
    let object: KeyObject;
    try {
      object = typeof key === 'string' ? createPublicKey(key) : key.type === 'public' ? key : createPublicKey(key);
    } catch (cause) {
      throw new ProtocolError('ERR_PROTOCOL_OPTIONS', `sealing key of ${nodeId} is not a public key: ${(cause as Error).message}`, 'sealingKey');
    }
    if (object.asymmetricKeyType !== 'rsa') throw new ProtocolError('ERR_PROTOCOL_OPTIONS', `sealing key of ${nodeId} must be RSA`, 'sealingKey');
    this.#keys.set(nodeId, object);
  }

  keyFor(seal: SealMessage): { readonly ok: true; readonly key: KeyObject } | { readonly ok: false; readonly reason: string } {
    const key = this.#keys.get(seal.nodeId);
    return key === undefined ? { ok: false, reason: 'node is not registered with this network' } : { ok: true, key };
  }

  get size(): number {
    return this.#keys.size;
  }
}

function reject(code: SealRejectCode, message: string, nodeId?: string): SealCheck {
  return { ok: false, reason: nodeId === undefined ? { code, message } : { code, message, nodeId } };
}

function short(hex: string): string {
  return hex.length > 16 ? `${hex.slice(0, 16)}…` : hex;
}
