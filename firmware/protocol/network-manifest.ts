// The network manifest: the one source of truth a node holds about its network, signed by the
// root's Ed25519 key (the same trust anchor as registrations and revocation lists). It carries the
// network's parameters, the primaries (clerks) whose candidate blocks a node tests, the committee
// whose votes make a block final and its quorum, the genesis, and the time it takes effect.
//
// Versions only grow, by at most MAX_VERSION_STEP at a time: a node keeps the highest version it
// has accepted (durably, so a restart cannot be rolled back) and refuses an older one, the same
// version with other content, and a jump towards the maximum that would leave no room for the
// next honest manifest. The genesis of a network never changes.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { bytesEqual, fromHex, toHex } from '../core/bytes.ts';
import { array, hexText, integer, JsonError, literal, object, refine, string } from '../core/json.ts';
import { ed25519Sign, ed25519Verify } from './chain/transaction.ts';
import { PrimaryKeySet } from './chain/primaries.ts';
import type { ChainTip } from './chain/validate.ts';
import { ProtocolError } from './errors.ts';
import { messageSchema, type ProtocolSchema } from './message-schema.ts';
import { PARAM_FIELDS, type NetworkParams } from './params.ts';
import { Committee, committeeProblem, MAX_COMMITTEE } from './quorum.ts';

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
    [p.sealZeros, p.clerkZeros, p.spinIntervalMs, p.maxRounds, p.sealDeadlineMs, p.timestampWindowMs, p.maxBlockTxs, p.maxBlockBytes],
    b.primaries, b.committee.members, b.committee.quorum,
    [b.genesis.hash, b.genesis.height, b.genesis.timestamp],
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
}

const refuse = (message: string, field?: string): ProtocolError => new ProtocolError('ERR_PROTOCOL_MANIFEST', message, field);

/**
 * Reads and verifies a manifest for network `network` under the root key. With `current` (the
 * manifest the node holds), also the succession rules: same network and genesis, a version above
 * the current one and at most MAX_VERSION_STEP above it. Throws ProtocolError; never returns an
 * unverified manifest.
 */
export function verifyManifest(input: unknown, rootPublicKey: Uint8Array | KeyObject, network: string, current?: NetworkManifest | null): NetworkManifest {
  let signed: SignedManifest;
  try {
    signed = bodyReader.read(input, 'manifest');
  } catch (err) {
    throw err instanceof JsonError ? refuse(err.message, err.path) : err;
  }
  if (!ed25519Verify(rootPublicKey, manifestSignedBytes(signed), fromHex(signed.signature))) {
    throw refuse('manifest signature does not verify with the root key', 'signature');
  }
  if (signed.network !== network) throw refuse(`manifest is for network "${signed.network}", this node is on "${network}"`, 'network');
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
  return networkManifest(signed);
}

function networkManifest(signed: SignedManifest): NetworkManifest {
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
  };
}
