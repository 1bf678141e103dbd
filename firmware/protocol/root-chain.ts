// The chain of root key rotations: every manifest that announced a rotation, oldest first, as the
// registrar keeps and serves them (GET /v1/network/manifest/rotations). A node whose keys do not
// sign the current manifest (an image flashed with an older root key, or a node away for a whole
// overlap window) walks it key by key from a key it holds, then takes the current manifest under
// the key the walk ends with. Nothing unsigned is trusted: each link verifies under the key the
// previous link handed over (the first under a key the node was given), and the current manifest
// under a key the last link makes valid now.
//
// A link's window may be long over: in the walk an announcement only authorizes its next key. It
// never makes the retiring key good again: the current manifest must verify under a key the last
// link makes valid at `now` (docs/trust.md, "Joining after a rotation").
import { bytesEqual, fromHex, toHex } from '../core/bytes.ts';
import { array, JsonError, literal, object } from '../core/json.ts';
import { ProtocolError } from './errors.ts';
import { manifestShape, NETWORK_NAME, verifyManifest, type NetworkManifest, type SignedManifest } from './network-manifest.ts';
import { RootKeys, sameRotation, shortKey } from './root-keys.ts';

export const ROOT_CHAIN_FORMAT = 'btn-root-rotations/v1';
/** At most this many links are served and walked: a rotation every few months fills it in years. */
export const MAX_ROOT_CHAIN_LINKS = 32;
/** The whole answer's cap; the registrar drops the oldest links until its answer fits. */
export const MAX_ROOT_CHAIN_BYTES = 4 * 1024 * 1024;

/** The served document: the announcing manifests, oldest first. */
export const rootChainShape = object({
  format: literal(ROOT_CHAIN_FORMAT),
  network: NETWORK_NAME,
  manifests: array(manifestShape, { max: MAX_ROOT_CHAIN_LINKS }),
});

export interface RootChain {
  readonly format: typeof ROOT_CHAIN_FORMAT;
  readonly network: string;
  readonly manifests: readonly SignedManifest[];
}

/** Where the walk starts: the keys the node was given or stored, and the manifest it holds (if any). */
export interface ChainStart {
  readonly anchors: readonly Uint8Array[];
  readonly held: NetworkManifest | null;
}

export interface ChainWalk {
  /** The current manifest, verified under a key the last link makes valid now. */
  readonly manifest: NetworkManifest;
  /** The links walked, oldest first (their signers' keys, then the last link's next key). */
  readonly keys: readonly string[];
}

const broken = (message: string, field?: string): ProtocolError => new ProtocolError('ERR_PROTOCOL_ROOT_CHAIN_BROKEN', message, field);
const iso = (t: number): string => new Date(t).toISOString();

/**
 * Walks `chain` from a key `start` holds and verifies `current` under the key it ends with.
 * Throws ProtocolError: ERR_PROTOCOL_ROOT_CHAIN_BROKEN (malformed, out of order, a gap, another
 * network or genesis, or no link retires a key held), ERR_PROTOCOL_ROOT_CHAIN_SIGNER (a link that
 * does not verify under the key held at its step), ERR_PROTOCOL_ROOT_CHAIN_END (the current
 * manifest is not signed by a key the walk ends with valid now, or does not follow the last link).
 */
export function walkRootChain(chainRaw: unknown, currentRaw: unknown, start: ChainStart, network: string, now: number): ChainWalk {
  let chain: RootChain;
  try {
    chain = rootChainShape.read(chainRaw, 'rotations') as RootChain;
  } catch (err) {
    throw err instanceof JsonError ? broken(err.message, err.path) : err;
  }
  if (chain.network !== network) throw broken(`the rotation chain is for network "${chain.network}", this node is on "${network}"`, 'network');
  const links = chain.manifests;
  // The chain as a whole first, signatures after: a reordered or gapped chain is named as such,
  // even in the part before the key this node holds.
  links.forEach((m, i) => {
    const r = m.rootRotation;
    if (r === undefined) throw broken(`link ${i} (manifest version ${m.version}) announces no root key rotation`, `manifests.${i}`);
    const before = links[i - 1]?.rootRotation;
    if (before === undefined) return;
    if (r.previous !== before.next) throw broken(`link ${i} (version ${m.version}) retires root key ${shortKey(r.previous)}, but the link before it handed over to ${shortKey(before.next)}`, `manifests.${i}`);
    if (m.version <= links[i - 1]!.version) throw broken(`link ${i} has version ${m.version}, not above the previous link's ${links[i - 1]!.version}`, `manifests.${i}.version`);
    if (r.until <= before.until) throw broken(`link ${i}'s window ends at ${iso(r.until)}, not after the previous link's`, `manifests.${i}.rootRotation`);
  });
  const held = new Set([...start.anchors.map((k) => toHex(k)), ...(start.held?.rootKeys.spans.map((s) => s.hex) ?? [])]);
  const first = links.findIndex((m) => held.has(m.rootRotation!.previous));
  if (first < 0) {
    throw broken(`no link of the rotation chain (${links.length}) retires a root key this node holds (${[...held].map((k) => shortKey(k)).join(', ')})`, 'manifests');
  }
  let key = links[first]!.rootRotation!.previous;
  const keys: string[] = [];
  let last: NetworkManifest | null = null;
  for (let i = first; i < links.length; i++) {
    const link = links[i]!;
    let m: NetworkManifest;
    try {
      // No clock here: a link's window may be over; it only hands the next key on.
      m = verifyManifest(link, [fromHex(key)], network, null, now);
    } catch (err) {
      if (err instanceof ProtocolError && err.field === 'signature') {
        throw new ProtocolError('ERR_PROTOCOL_ROOT_CHAIN_SIGNER', `link ${i} (manifest version ${link.version}) does not verify under root key ${shortKey(key)}, the key held at that step`, `manifests.${i}.signature`);
      }
      throw err instanceof ProtocolError ? broken(`link ${i}: ${err.message}`, `manifests.${i}`) : err;
    }
    sameLine(m, last ?? start.held, `link ${i}`);
    keys.push(key);
    key = link.rootRotation!.next;
    last = m;
  }
  keys.push(key);
  return { manifest: currentUnder(last!, currentRaw, start.held, network, now), keys };
}

/** The current manifest under the keys the last link makes valid at `now`, following it and the held manifest. */
function currentUnder(last: NetworkManifest, currentRaw: unknown, held: NetworkManifest | null, network: string, now: number): NetworkManifest {
  const end = (message: string, field?: string): ProtocolError => new ProtocolError('ERR_PROTOCOL_ROOT_CHAIN_END', message, field);
  const r = last.rootKeys.rotation!;
  const valid = RootKeys.of(last.signer, r).at(now);
  let m: NetworkManifest;
  try {
    m = verifyManifest(currentRaw, valid, network, null, now);
  } catch (err) {
    if (err instanceof ProtocolError && err.field === 'signature') {
      throw end(`the current manifest is not signed by a root key the rotation chain ends with that is valid now (${valid.map((k) => shortKey(k)).join(' or ')}; `
        + `the last link hands ${shortKey(r.previous)} over to ${shortKey(r.next)} from ${iso(r.from)} until ${iso(r.until)})`, 'signature');
    }
    throw err;
  }
  if (m.version < last.version || (m.version === last.version && m.signed.signature !== last.signed.signature)) {
    throw end(`the current manifest (version ${m.version}) does not follow the chain's last link (version ${last.version})`, 'version');
  }
  const carried = m.rootKeys.rotation;
  if (!sameRotation(carried, r) && (carried !== null || now <= r.until)) {
    throw end(carried === null
      ? `the current manifest withdraws the rotation to ${shortKey(r.next)} before its window ends (${iso(r.until)})`
      : `the current manifest announces a rotation to ${shortKey(carried.next)} that the chain does not hold`, 'rootRotation');
  }
  sameLine(m, last, 'the current manifest');
  if (held !== null && m.version <= held.version) throw end(`the current manifest (version ${m.version}) is not above version ${held.version} held`, 'version');
  return m;
}

/** Same genesis as the manifest before it in the walk (or the one held). */
function sameLine(m: NetworkManifest, before: NetworkManifest | null, what: string): void {
  if (before === null) return;
  const a = m.genesis;
  const b = before.genesis;
  if (a.height !== b.height || a.timestamp !== b.timestamp || !bytesEqual(a.hash, b.hash)) throw broken(`${what} names another genesis than the network has`, 'genesis');
}
