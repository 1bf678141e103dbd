// The network manifest: the one source of truth a node holds about its network, signed by the
// root's Ed25519 key (the same trust anchor as registrations and revocation lists). It carries the
// network's parameters, the primaries (clerks) whose candidate blocks a node tests, the committee
// whose votes make a block final and its quorum, the genesis, and the time it takes effect.
//
// Versions only grow, by at most MAX_VERSION_STEP at a time: a node keeps the highest version it
// has accepted (durably, so a restart cannot be rolled back) and refuses an older one, the same
// version with other content, and a jump towards the maximum that would leave no room for the
// next honest manifest. The genesis of a network never changes.
//
// A manifest may announce the root's next key with an overlap window (root-keys.ts). Which key
// may sign a manifest is the chain rule of docs/trust.md: a key the held manifest names as valid
// now; the first manifest a node takes is signed by a key it was given (its config's).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { bytesEqual, fromHex, toHex } from '../core/bytes.ts';
import { array, hexText, integer, JsonError, literal, object, optional, refine, string } from '../core/json.ts';
import { ed25519Sign } from './chain/transaction.ts';
import { PrimaryKeySet } from './chain/primaries.ts';
import type { ChainTip } from './chain/validate.ts';
import { ProtocolError } from './errors.ts';
import { messageSchema, type ProtocolSchema } from './message-schema.ts';
import { PARAM_FIELDS, type NetworkParams } from './params.ts';
import { Committee, committeeProblem, MAX_COMMITTEE } from './quorum.ts';
import { RootKeys, rootRotationShape, sameRotation, shortKey, verifyUnderAny, type RootRotation } from './root-keys.ts';

export const MANIFEST_FORMAT = 'btn-manifest/v1';
const DOMAIN = `${MANIFEST_FORMAT}\n`;
/** The largest step from the version a node holds to the next one it takes. */
export const MAX_VERSION_STEP = 1000;
export const MAX_MANIFEST_VERSION = 2 ** 40;
export const MAX_PRIMARIES = 64;
/** 100 committee members and 64 RSA-4096 primaries fit with room to spare. */
export const MAX_MANIFEST_BYTES = 256 * 1024;
/** The network name a vote signs and a config names: a short, printable label. */
export const NETWORK_NAME = string({ min: 1, max: 64, pattern: /^[a-zA-Z0-9._-]+$/ });

export type ManifestParams = Omit<NetworkParams, 'version'>;

/** What the root signs. */
export interface ManifestBody {
  readonly network: string;
  readonly version: number;
  /** Unix ms from which the manifest is in force; a node holds a later one back until then. */
  readonly validFrom: number;
  readonly params: ManifestParams;
  /** The clerks' RSA public keys, SPKI DER as lowercase hex. */
  readonly primaries: readonly string[];
  readonly committee: { readonly members: readonly string[]; readonly quorum: number };
  readonly genesis: { readonly hash: string; readonly height: number; readonly timestamp: number };
  /** The root's next key and the overlap window, announced by the key it retires. */
  readonly rootRotation?: RootRotation;
}

export interface SignedManifest extends ManifestBody {
  readonly format: typeof MANIFEST_FORMAT;
  /** Ed25519 over manifestSignedBytes(body), lowercase hex. */
  readonly signature: string;
}

/** The bytes the root signs: a domain line, then every field in a fixed order. */
export function manifestSignedBytes(b: ManifestBody): Uint8Array {
  const p = b.params;
  const canonical = JSON.stringify([
    MANIFEST_FORMAT, b.network, b.version, b.validFrom,
    // candidateDelivery only when named: manifests signed before it keep their signed bytes.
    [p.sealZeros, p.clerkZeros, p.spinIntervalMs, p.maxRounds, p.sealDeadlineMs, p.timestampWindowMs, p.maxBlockTxs, p.maxBlockBytes, ...(p.candidateDelivery === undefined ? [] : [p.candidateDelivery])],
    b.primaries, b.committee.members, b.committee.quorum,
    [b.genesis.hash, b.genesis.height, b.genesis.timestamp],
    // Appended only when present: a manifest without a rotation signs the bytes it always did.
    ...(b.rootRotation === undefined ? [] : [[b.rootRotation.previous, b.rootRotation.next, b.rootRotation.from, b.rootRotation.until]]),
  ]);
  return new Uint8Array(Buffer.from(DOMAIN + canonical, 'utf8'));
}

export function signManifest(body: ManifestBody, rootPrivateKey: KeyObject): SignedManifest {
  // Read back through the reader first: the root never signs what a node would refuse.
  const checked = bodyReader.read({ ...body, format: MANIFEST_FORMAT, signature: '00'.repeat(64) }, 'manifest');
  return { ...checked, signature: toHex(ed25519Sign(rootPrivateKey, manifestSignedBytes(checked))) };
}

const timestamp = integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
// Signed text is read as it stands (lowercase only): the signature covers these exact strings.
/** The signed manifest's fields, exact (the registrar's route table documents its PUT body from them). */
export const manifestShape = object({
  format: literal(MANIFEST_FORMAT),
  network: NETWORK_NAME,
  version: integer({ min: 1, max: MAX_MANIFEST_VERSION }),
  validFrom: timestamp,
  params: object(PARAM_FIELDS),
  primaries: array(hexText({ min: 64, max: 2048, lowercase: true }), { min: 1, max: MAX_PRIMARIES }),
  committee: object({
    members: array(hexText({ bytes: 32, lowercase: true }), { min: 1, max: MAX_COMMITTEE }),
    quorum: integer({ min: 1, max: MAX_COMMITTEE }),
  }),
  genesis: object({ hash: hexText({ bytes: 32, lowercase: true }), height: timestamp, timestamp }),
  rootRotation: optional(rootRotationShape),
  signature: hexText({ bytes: 64, lowercase: true }),
});
const bodyReader = refine(manifestShape, (m) => {
  const committee = committeeProblem(m.committee.members, m.committee.quorum);
  if (committee !== undefined) return `committee.${committee}`;
  if (new Set(m.primaries).size !== m.primaries.length) return 'primaries: a key is listed twice';
  if (m.params.sealDeadlineMs < m.params.spinIntervalMs) return 'params: sealDeadlineMs must be at least one spinIntervalMs';
  return undefined;
});

/** The manifest's shape (not its signature: verifyManifest checks that with the root key). */
export const manifestMessage: ProtocolSchema<SignedManifest> = messageSchema('manifest', MAX_MANIFEST_BYTES, bodyReader);

/** A manifest whose signature verified, with its keys parsed once for the node's checks. */
export interface NetworkManifest {
  readonly signed: SignedManifest;
  readonly version: number;
  readonly validFrom: number;
  readonly params: NetworkParams;
  readonly primaries: PrimaryKeySet;
  readonly committee: Committee;
  readonly genesis: ChainTip;
  /** The root key this manifest verified under. */
  readonly signer: Uint8Array;
  /** The root keys it leaves the node with: its signer, or both keys of the window it announces. */
  readonly rootKeys: RootKeys;
}

const refuse = (message: string, field?: string): ProtocolError => new ProtocolError('ERR_PROTOCOL_MANIFEST', message, field);

/**
 * Reads and verifies a manifest for network `network`. Without `current` (the first manifest a
 * node takes, or one read back from its own disk) it must verify under one of `anchor`, the keys
 * the node was given. With `current`, the chain rule decides instead (docs/trust.md): it must
 * verify under a key `current` holds valid at `now`, keep an announced root key window until it
 * ends, and announce a new one only under the key it retires; then the succession rules: same
 * network and genesis, a version above the current one and at most MAX_VERSION_STEP above it.
 * Throws ProtocolError; never returns an unverified manifest.
 */
export function verifyManifest(
  input: unknown, anchor: Uint8Array | readonly Uint8Array[], network: string, current?: NetworkManifest | null, now: number = Date.now(),
): NetworkManifest {
  let signed: SignedManifest;
  try {
    signed = bodyReader.read(input, 'manifest');
  } catch (err) {
    throw err instanceof JsonError ? refuse(err.message, err.path) : err;
  }
  // The manifest held, again (a retained copy, the root's answer): taken when it was, whatever its
  // signer's window says today.
  if (current != null && signed.version === current.version && signed.signature === current.signed.signature && signed.network === network) return current;
  const signer = current == null
    ? verifyUnderAny(anchor instanceof Uint8Array ? [anchor] : anchor, manifestSignedBytes(signed), fromHex(signed.signature))
    : heldSigner(signed, current.rootKeys, now);
  if (signer === null) throw unknownSigner(signed, anchor instanceof Uint8Array ? [anchor] : anchor);
  if (signed.network !== network) throw refuse(`manifest is for network "${signed.network}", this node is on "${network}"`, 'network');
  const rotation = signed.rootRotation ?? null;
  const announced = current?.rootKeys.rotation ?? null;
  // An announced window is fixed until it ends: neither key can shorten, move or withdraw it.
  if (announced !== null && now <= announced.until && !sameRotation(announced, rotation)) {
    throw rootRefusal(`manifest changes or withdraws the root key rotation announced to ${shortKey(announced.next)} (window ${iso(announced.from)} .. ${iso(announced.until)}); it holds until it ends`, 'rootRotation');
  }
  if (rotation !== null) rotationChecks(rotation, toHex(signer), current?.rootKeys.rotation, now);
  if (current != null) {
    const held = current.version;
    if (signed.version < held) throw refuse(`manifest version ${signed.version} is older than version ${held} held`, 'version');
    if (signed.version === held) {
      if (signed.signature !== current.signed.signature) throw refuse(`manifest version ${held} is held with other content`, 'version');
    } else if (signed.version > held + MAX_VERSION_STEP) {
      throw refuse(`manifest version ${signed.version} jumps more than ${MAX_VERSION_STEP} above version ${held} held`, 'version');
    }
    const g = current.genesis;
    if (signed.genesis.height !== g.height || signed.genesis.timestamp !== g.timestamp || !bytesEqual(fromHex(signed.genesis.hash), g.hash)) {
      throw refuse('manifest names another genesis than the network has', 'genesis');
    }
  }
  return networkManifest(signed, signer);
}

const iso = (t: number): string => new Date(t).toISOString();
const rootRefusal = (message: string, field: string): ProtocolError => new ProtocolError('ERR_PROTOCOL_ROOT_KEY', message, field);

/** The held key the manifest is signed by, if that key signs now; a specific refusal otherwise. */
function heldSigner(signed: SignedManifest, held: RootKeys, now: number): Uint8Array | null {
  const span = held.signerOf(manifestSignedBytes(signed), fromHex(signed.signature));
  if (span === undefined) return null;
  if (now < span.from) throw rootRefusal(`manifest version ${signed.version} is signed by the next root key ${shortKey(span.hex)}, whose window opens at ${iso(span.from)}`, 'signature');
  if (now > span.until) {
    const newest = held.newestAt(now);
    throw rootRefusal(`manifest version ${signed.version} is signed by root key ${shortKey(span.hex)}, whose overlap window ended at ${iso(span.until)}${newest === null ? '' : `; manifests now come from root key ${shortKey(newest)}`}`, 'signature');
  }
  return span.key;
}

/** Why no trusted key verifies: a plain bad signature, or a key announced in a manifest this node never held. */
function unknownSigner(signed: SignedManifest, held: readonly Uint8Array[]): ProtocolError {
  const r = signed.rootRotation;
  const bytes = manifestSignedBytes(signed);
  const sig = fromHex(signed.signature);
  if (r !== undefined && verifyUnderAny([fromHex(r.next)], bytes, sig) !== null) {
    return rootRefusal(`manifest version ${signed.version} is signed by root key ${shortKey(r.next)}, which this node holds no announcement of: `
      + `it needs the manifest signed by root key ${shortKey(r.previous)} that announces ${shortKey(r.next)} (any version published from then until ${iso(r.until)}), `
      + 'or a config naming the new root key', 'signature');
  }
  return refuse(`manifest signature does not verify with the root key (${held.map((k) => shortKey(k)).join(' or ') || 'none held'})`, 'signature');
}

/** The announcement itself: made by the key it retires, while its window is still ahead or open. */
function rotationChecks(r: RootRotation, signer: string, announced: RootRotation | null | undefined, now: number): void {
  if (signer !== r.previous && signer !== r.next) throw rootRefusal('manifest carries a root key rotation that names neither the key that signed it', 'rootRotation');
  // Read back from the node's own disk (no held manifest): taken as it was when first verified.
  if (announced === undefined || sameRotation(announced, r)) return;
  if (signer !== r.previous) throw rootRefusal(`a root key rotation is announced only by the key it retires (${shortKey(r.previous)}); this manifest is signed by ${shortKey(signer)}`, 'rootRotation');
  if (r.until < now) throw rootRefusal(`manifest announces a root key rotation whose window ended at ${iso(r.until)}`, 'rootRotation');
}

function networkManifest(signed: SignedManifest, signer: Uint8Array): NetworkManifest {
  let primaries: PrimaryKeySet;
  try {
    primaries = new PrimaryKeySet(signed.primaries.map((k) => createPublicKey({ key: Buffer.from(k, 'hex'), format: 'der', type: 'spki' })));
  } catch (err) {
    throw refuse(`primaries: ${(err as Error).message}`, 'primaries');
  }
  let committee: Committee;
  try {
    committee = new Committee(signed.network, signed.committee.members.map((m) => fromHex(m)), signed.committee.quorum);
  } catch (err) {
    throw refuse(`committee: ${(err as Error).message}`, 'committee');
  }
  return {
    signed,
    version: signed.version,
    validFrom: signed.validFrom,
    params: { version: signed.version, ...signed.params },
    primaries,
    committee,
    genesis: { hash: fromHex(signed.genesis.hash), height: signed.genesis.height, timestamp: signed.genesis.timestamp },
    signer,
    rootKeys: RootKeys.of(signer, signed.rootRotation ?? null),
  };
}
