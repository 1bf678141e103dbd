// Test helper: a broker client with no key anyone trusts (a plain `mqtt` client), and the forged,
// replayed and malformed messages it publishes on a network's topics. It sees what every
// subscriber sees (the final blocks, the open candidate) and builds its forgeries from them.
import { type KeyObject } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { blockHash, DEFAULT_BLOCK_CAPS } from '../../../firmware/protocol/chain/block.ts';
import { decodeCandidate } from '../../../firmware/protocol/chain/candidate-wire.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { encodeFinalMessage, finalMessage, MAX_FINAL_MESSAGE_BYTES, type FinalMessage } from '../../../firmware/protocol/final-message.ts';
import { keyFingerprint } from '../../../firmware/protocol/identity.ts';
import { MAX_MANIFEST_BYTES, signManifest, type SignedManifest } from '../../../firmware/protocol/network-manifest.ts';
import { MAX_COMMITTEE } from '../../../firmware/protocol/quorum.ts';
import { encodeSealMessage, MAX_SEAL_MESSAGE_BYTES } from '../../../firmware/protocol/seal-message.ts';
import { MAX_REVOCATION_LIST_BYTES } from '../../../firmware/protocol/revocation-list.ts';
import type { Topics } from '../../../firmware/protocol/topics.ts';
import type { Json } from '../../../firmware/protocol/message-schema.ts';

export interface SeenCandidate {
  readonly height: number;
  readonly hash: Uint8Array;
  readonly clerk: string;
}

export interface Attacker {
  readonly client: MqttClient;
  /** The newest final the broker carried (the attacker's own forgeries aside). */
  lastFinal(): FinalMessage | null;
  candidate(): SeenCandidate | null;
  /** Every message it published, by kind (what the nodes must have refused). */
  readonly sent: Record<string, number>;
  pub(kind: string, topic: string, payload: string | Buffer, retain?: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function connectAttacker(url: string, topics: Topics): Promise<Attacker> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: `attacker-${process.pid}` });
  let last: FinalMessage | null = null;
  let open: SeenCandidate | null = null;
  const ours = new Set<string>();
  client.on('message', (topic, payload) => {
    if (payload.length === 0 || ours.has(payload.toString('utf8'))) return;
    try {
      if (topic === topics.final) {
        const f = finalMessage.parse(payload);
        if (last === null || f.height > last.height) last = f;
      } else if (topic === topics.candidates) {
        // A binary frame or JSON, as the primary sends it.
        const b = decodeCandidate(payload, { maxTxs: DEFAULT_BLOCK_CAPS.maxTxs, maxBlockBytes: 16 * 1024 * 1024 }).block;
        open = { height: b.header.height, hash: blockHash(b.header), clerk: keyFingerprint(b.header.clerkPublicKey) };
      }
    } catch { /* another client's garbage */ }
  });
  await client.subscribeAsync([topics.final, topics.candidates], { qos: 1 });
  const sent: Record<string, number> = {};
  return {
    client, sent,
    lastFinal: () => last,
    candidate: () => open,
    async pub(kind, topic, payload, retain = false) {
      if (typeof payload === 'string' && payload.startsWith('{') && payload.length < 4096) ours.add(payload);
      sent[kind] = (sent[kind] ?? 0) + 1;
      await client.publishAsync(topic, payload, { qos: 1, retain }).catch(() => undefined);
    },
    close: async () => { await client.endAsync(true).catch(() => undefined); },
  };
}

export interface Forgery<T> {
  readonly kind: string;
  readonly value: T;
}

/**
 * Finals no committee certified: a forger's votes, a quorum minus one of real votes, one real voter
 * many times, real votes under other bytes, more votes than members or than any committee has, upper-case hex, the
 * largest height, and the newest real final replayed higher or re-timed. `members` are the real
 * committee's keys (a compromised minority: what they sign alone must not be enough).
 */
export function forgedFinals(o: { readonly members: NetworkKeys; readonly tipHeight: number; readonly last: FinalMessage | null; readonly salt: number }): Forgery<FinalMessage>[] {
  const real = o.members;
  const forger = new NetworkKeys({ network: real.network, members: real.members.length, quorum: real.quorum });
  const block = { height: o.tipHeight + 1, hash: new Uint8Array(32).fill((o.salt % 254) + 1), timestamp: Date.now(), clerk: 'c'.repeat(64), sealedBy: [] };
  const one = real.votes(block, 1)[0]!;
  const out: Forgery<FinalMessage>[] = [
    { kind: 'non-members', value: forger.final(block) },
    { kind: 'too-few', value: real.final(block, real.quorum - 1) },
    { kind: 'duplicate-voter', value: { ...block, votes: Array.from({ length: real.quorum }, () => one) } },
    { kind: 'wrong-signatures', value: { ...real.final(block), hash: new Uint8Array(32).fill(0xee) } },
    // More votes than members (as from a primary on an older committee): only current members' count.
    { kind: 'more-votes-than-members', value: { ...block, votes: [...forger.votes(block), ...real.votes(block, real.quorum - 1)] } },
    // More votes than any committee may have: refused by the message's reader.
    { kind: 'too-many-votes', value: { ...block, votes: Array.from({ length: MAX_COMMITTEE + 1 }, () => one) } },
    // The reader lowercases hex: upper case is only another spelling, so these are a forger's votes still.
    { kind: 'upper-case-non-members', value: { ...block, votes: forger.votes(block).map((v) => ({ member: v.member.toUpperCase(), signature: v.signature.toUpperCase() })) } },
    { kind: 'max-height', value: forger.final({ ...block, height: Number.MAX_SAFE_INTEGER }) },
  ];
  if (o.last !== null) {
    out.push({ kind: 'replayed-higher', value: { ...o.last, height: o.last.height + 1 } });
    out.push({ kind: 'replayed-max', value: { ...o.last, height: Number.MAX_SAFE_INTEGER } });
    out.push({ kind: 're-timed', value: { ...o.last, timestamp: o.last.timestamp + 3_600_000 } });
  }
  return out;
}

export const encodeFinal = encodeFinalMessage;

/**
 * Manifests a node must refuse: another key's, a jump to the maximum and by more than the step
 * allowed, another network's, another genesis, one changed after signing, and the held version
 * with other content; all but the first signed by the real root (`root`).
 */
export function forgedManifests(held: SignedManifest, root: KeyObject): Forgery<SignedManifest>[] {
  const forger = new NetworkKeys({ network: held.network, members: 1 });
  const resign = (over: Partial<SignedManifest>): SignedManifest => signManifest({ ...held, ...over }, root);
  const v = held.version;
  return [
    { kind: 'another-key', value: signManifest({ ...held, version: v + 1, params: { ...held.params, sealZeros: 0 }, committee: { members: [forger.members[0]!.publicKey].map((k) => Buffer.from(k).toString('hex')), quorum: 1 } }, forger.root.privateKey) },
    { kind: 'max-version', value: resign({ version: 2 ** 40, params: { ...held.params, sealZeros: 255 } }) },
    { kind: 'jump', value: resign({ version: v + 1001 }) },
    { kind: 'another-network', value: resign({ network: `${held.network}-other`, version: v + 1 }) },
    { kind: 'another-genesis', value: resign({ version: v + 1, genesis: { ...held.genesis, hash: 'ee'.repeat(32) } }) },
    { kind: 'tampered', value: { ...resign({ version: v + 1 }), params: { ...held.params, sealZeros: 0 } } },
    { kind: 'same-version-other-content', value: resign({ params: { ...held.params, timestampWindowMs: held.params.timestampWindowMs + 1 } }) },
  ];
}

/** A seal of `nodeId` for the candidate, signed by `signWith` (a TPM key), in the first round whose ticket qualifies. */
export async function qualifyingSeal(c: SeenCandidate, o: { readonly nodeId: string; readonly sealZeros: number; readonly registration: Json | null; readonly sign: (m: Uint8Array) => Promise<Uint8Array> | Uint8Array }): Promise<string> {
  for (let round = 0; ; round++) {
    const signature = await o.sign(lotteryMessage(c.hash, round));
    if (scoreTicket(signature, round).zeros >= o.sealZeros) {
      return encodeSealMessage({ nodeId: o.nodeId, height: c.height, blockHash: c.hash, clerk: c.clerk, round, signature, registration: o.registration, expiresAt: Date.now() + 20_000 });
    }
  }
}

/** Garbage for one topic: not JSON, invalid UTF-8, wrong types, unknown keys, and (with its cap) one byte above it. */
export function garbage(cap: number | null): Forgery<string | Buffer>[] {
  const out: Forgery<string | Buffer>[] = [
    { kind: 'not-json', value: 'not json {' },
    { kind: 'invalid-utf8', value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
    { kind: 'wrong-types', value: JSON.stringify({ v: 'two', height: 'x', hash: 7, version: [], signature: null, nodeId: 1 }) },
    { kind: 'unknown-keys', value: JSON.stringify({ v: 2, extra: true, __proto__x: 1 }) },
  ];
  if (cap !== null) out.push({ kind: 'oversize', value: Buffer.alloc(cap + 1, 0x20) });
  return out;
}

/**
 * Garbage on every topic a node reads, each oversize one a byte above that topic's own cap (a
 * candidate's cap follows the manifest, megabytes: no oversize one). The 4 MiB revocation list
 * only when `big`.
 */
export function garbageByTopic(t: Topics, sealTopic: string, big: boolean): { topic: string; kind: string; value: string | Buffer }[] {
  const caps: [string, number | null][] = [
    [t.final, MAX_FINAL_MESSAGE_BYTES], [t.manifest, MAX_MANIFEST_BYTES], [sealTopic, MAX_SEAL_MESSAGE_BYTES],
    [t.candidates, null], [t.revocations, big ? MAX_REVOCATION_LIST_BYTES : null],
  ];
  return caps.flatMap(([topic, cap]) => garbage(cap).map((g) => ({ topic, kind: `garbage ${g.kind}`, value: g.value })));
}
