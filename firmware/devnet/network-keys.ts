// The keys a reference network signs with: the root key that signs the network manifest, and the
// committee members' vote keys. A devnet makes a fresh root per run (or takes the provisioned
// root's key) and takes the members' keys from its clerks, so its nodes check manifests and
// final blocks exactly as a deployed node does.
import { randomBytes, type KeyObject } from 'node:crypto';
import { toHex } from '../core/bytes.ts';
import { keyPairFromSeed, type Ed25519KeyPair } from '../protocol/chain/transaction.ts';
import { spkiOf } from '../protocol/identity.ts';
import { signManifest, verifyManifest, type ManifestParams, type NetworkManifest, type SignedManifest } from '../protocol/network-manifest.ts';
import type { NetworkParams } from '../protocol/params.ts';
import { defaultQuorum, MAX_COMMITTEE, signVote, type Vote, type VotedBlock } from '../protocol/quorum.ts';
import type { FinalMessage } from '../protocol/final-message.ts';
import type { Clerk } from './clerks.ts';
import { DevnetError } from './errors.ts';
import type { NetworkSource } from '../node/network-state.ts';

export interface NetworkKeysOptions {
  readonly network: string;
  /** The members' vote keys (a devnet's clerks'), or a committee size for fresh keys; at least 1. */
  readonly members: number | readonly Ed25519KeyPair[];
  /** Votes needed; default floor(2n/3) + 1, always a majority. */
  readonly quorum?: number;
  /** The root's Ed25519 key pair; a fresh one when omitted. */
  readonly root?: RootKey;
}

/** What the root signs with: its public key (32 bytes) and its private key. */
export type RootKey = Pick<Ed25519KeyPair, 'publicKey' | 'privateKey'>;

/** What a node is told to trust: manifests of this network signed by this root key (the node's NetworkSource). */
export type SignedNetworkSource = Extract<NetworkSource, { readonly kind: 'signed' }>;

export interface ManifestContent {
  readonly version: number;
  readonly validFrom?: number;
  readonly params: NetworkParams | ManifestParams;
  /** The clerks' RSA public keys. */
  readonly primaries: readonly KeyObject[];
  readonly genesis: { readonly hash: Uint8Array; readonly height: number; readonly timestamp: number };
}

export class NetworkKeys {
  readonly network: string;
  readonly root: RootKey;
  readonly members: readonly Ed25519KeyPair[];
  readonly quorum: number;

  constructor(o: NetworkKeysOptions) {
    const size = typeof o.members === 'number' ? o.members : o.members.length;
    if (!Number.isInteger(size) || size < 1 || size > MAX_COMMITTEE) throw new DevnetError('ERR_DEVNET_OPTIONS', `committee size must be an integer in 1..${MAX_COMMITTEE}, got ${size}`);
    this.network = o.network;
    this.root = o.root ?? keyPairFromSeed(randomBytes(32));
    this.members = typeof o.members === 'number' ? Array.from({ length: size }, () => keyPairFromSeed(randomBytes(32))) : [...o.members];
    this.quorum = o.quorum ?? defaultQuorum(size);
  }

  /** The root's public key, as a node's config names it (64 hex). */
  get rootPublicKeyHex(): string {
    return toHex(this.root.publicKey);
  }

  /** What a node of this network trusts (createNode's signed network source). */
  get source(): SignedNetworkSource {
    return { kind: 'signed', network: this.network, rootPublicKey: this.root.publicKey };
  }

  /** A manifest signed by the root; the committee is this object's members. */
  manifest(c: ManifestContent, members: readonly Ed25519KeyPair[] = this.members, quorum = this.quorum): SignedManifest {
    const { version: _ignored, ...params } = c.params as NetworkParams;
    return signManifest({
      network: this.network,
      version: c.version,
      validFrom: c.validFrom ?? 0,
      params,
      primaries: c.primaries.map((k) => toHex(spkiOf(k))),
      committee: { members: members.map((m) => toHex(m.publicKey)), quorum },
      genesis: { hash: toHex(c.genesis.hash), height: c.genesis.height, timestamp: c.genesis.timestamp },
    }, this.root.privateKey);
  }

  /** Votes of the first `count` members (all by default) for the block. */
  votes(block: VotedBlock, count = this.members.length): Vote[] {
    return this.members.slice(0, count).map((m) => signVote(m.privateKey, m.publicKey, this.network, block));
  }

  /** A final message carrying a quorum of votes (or `count` of them). */
  final(block: Omit<FinalMessage, 'votes'>, count = this.quorum): FinalMessage {
    return { ...block, votes: this.votes(block, count) };
  }
}

export interface ClerksNetworkOptions {
  readonly network: string;
  readonly clerks: readonly Clerk[];
  readonly params: NetworkParams;
  readonly genesis: ManifestContent['genesis'];
  readonly quorum?: number;
  readonly root?: RootKey;
}

/**
 * A devnet's network: the clerks are its primaries and, with their vote keys, its committee; the
 * first manifest (version 1) is signed by the root and read back as a node reads it, so the
 * primary counts votes against the very committee its nodes hold. Throws what the manifest's
 * reader refuses (a quorum that is no majority, a bad network name).
 */
export function clerksNetwork(o: ClerksNetworkOptions): { keys: NetworkKeys; manifest: SignedManifest; terms: NetworkManifest } {
  const keys = new NetworkKeys({
    network: o.network, members: o.clerks.map((c) => c.voteKey),
    ...(o.quorum === undefined ? {} : { quorum: o.quorum }), ...(o.root === undefined ? {} : { root: o.root }),
  });
  const manifest = keys.manifest({ version: 1, params: o.params, primaries: o.clerks.map((c) => c.publicKey), genesis: o.genesis });
  return { keys, manifest, terms: verifyManifest(manifest, keys.root.publicKey, o.network) };
}

const pems = new WeakMap<KeyObject, string>();
/** A node's public key as PEM, exported once per key (a final record lists each sealer's). */
export function publicKeyPem(key: KeyObject): string {
  let pem = pems.get(key);
  if (pem === undefined) {
    pem = key.export({ type: 'spki', format: 'pem' }).toString();
    pems.set(key, pem);
  }
  return pem;
}
