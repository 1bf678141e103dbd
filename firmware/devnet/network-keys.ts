// The keys a reference network signs with: the root key that signs the network manifest, and the
// committee members' vote keys. A devnet makes fresh ones per run (or takes the provisioned
// root's key), so its nodes check manifests and final blocks exactly as a deployed node does.
import { randomBytes, type KeyObject } from 'node:crypto';
import { toHex } from '../core/bytes.ts';
import { keyPairFromSeed, type Ed25519KeyPair } from '../protocol/chain/transaction.ts';
import { spkiOf } from '../protocol/identity.ts';
import { signManifest, type ManifestParams, type SignedManifest } from '../protocol/network-manifest.ts';
import type { NetworkParams } from '../protocol/params.ts';
import { signVote, type Vote, type VotedBlock } from '../protocol/quorum.ts';
import type { FinalMessage } from '../protocol/final-message.ts';
import { defaultQuorum } from './committee.ts';
import { DevnetError } from './errors.ts';

export interface NetworkKeysOptions {
  readonly network: string;
  /** Committee size (one vote key per member); at least 1. */
  readonly members: number;
  /** Votes needed; default floor(2n/3) + 1, always a majority. */
  readonly quorum?: number;
  /** The root's Ed25519 key pair; a fresh one when omitted. */
  readonly root?: Ed25519KeyPair;
}

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
  readonly root: Ed25519KeyPair;
  readonly members: readonly Ed25519KeyPair[];
  readonly quorum: number;

  constructor(o: NetworkKeysOptions) {
    if (!Number.isInteger(o.members) || o.members < 1 || o.members > 1024) throw new DevnetError('ERR_DEVNET_OPTIONS', `committee size must be an integer in 1..1024, got ${o.members}`);
    this.network = o.network;
    this.root = o.root ?? keyPairFromSeed(randomBytes(32));
    this.members = Array.from({ length: o.members }, () => keyPairFromSeed(randomBytes(32)));
    this.quorum = o.quorum ?? defaultQuorum(o.members);
  }

  /** The root's public key, as a node's config names it (64 hex). */
  get rootPublicKeyHex(): string {
    return toHex(this.root.publicKey);
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
