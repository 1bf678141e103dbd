// Types of the reference primary node: its options, clock and transport seams, the records it
// produces and the events it reports.
import type { Clock } from '../core/clock.ts';
import type { CandidateEncoding } from '../protocol/chain/candidate-wire.ts';
import type { Logger } from 'pino';
import type { ChainTip } from '../protocol/chain/validate.ts';
import type { SignedManifest } from '../protocol/network-manifest.ts';
import type { NetworkParams } from '../protocol/params.ts';
import type { Vote } from '../protocol/quorum.ts';
import type { DropEvent, InboundMessage, PublishOutcome, SubscribeOptions } from '../transport/mqtt-types.ts';
import type { Topics } from '../protocol/topics.ts';
import type { Clerk } from './clerks.ts';
import type { RootKey } from './network-keys.ts';
import type { SealAuthority, SealRejectCode } from '../protocol/seal-check.ts';
import type { TxSource } from './tx-generator.ts';

/** The part of MqttTransport the primary uses (a fake in unit tests). */
export interface PrimaryTransport {
  publish(topic: string, payload: Uint8Array | string | Record<string, unknown>, options?: { qos?: 0 | 1; retain?: boolean }): Promise<PublishOutcome>;
  subscribe<T = unknown>(filter: string, handler: (m: InboundMessage<T>) => void | Promise<void>, options?: SubscribeOptions<T>): () => void;
  /** MqttTransport's 'drop' events: seals it dropped before they reached the primary are counted too. */
  on?(event: 'drop', listener: (e: DropEvent) => void): unknown;
  off?(event: 'drop', listener: (e: DropEvent) => void): unknown;
}

export interface PrimaryNodeOptions {
  readonly transport: PrimaryTransport;
  readonly topics: Topics;
  readonly params: NetworkParams;
  readonly clerks: readonly Clerk[];
  /** Trusted sealing keys of secondary nodes. */
  readonly authority: SealAuthority;
  /** The chain tip before the first block (height 0, the genesis hash, its timestamp). */
  readonly genesis: ChainTip & { readonly timestamp: number };
  readonly transactions?: TxSource;
  /** Transactions per block (default 4). */
  readonly txPerBlock?: number;
  /** How candidates go on the wire: the binary frame (default) or JSON (for tools that read it). */
  readonly candidateEncoding?: CandidateEncoding;
  /** Votes for finality; default floor(2n/3) + 1 of the clerks, always a majority. */
  readonly quorum?: number;
  /** The network's name: what the manifest names and every vote signs (default 'devnet'). */
  readonly network?: string;
  /** The root key that signs the network manifest (default: a fresh one). */
  readonly root?: RootKey;
  /** Wait after the first valid seal for competing ones; default spinIntervalMs. */
  readonly voteWindowMs?: number;
  /** Attempts per height before giving up on it (default 5). */
  readonly maxAttempts?: number;
  readonly logger?: Logger;
  readonly clock?: Pick<Clock, 'now' | 'setTimer'>;
  readonly onEvent?: (event: PrimaryEvent) => void;
}

export interface SealRecord {
  readonly node: string;
  readonly publicKeyPem: string;
  readonly round: number;
  /** Hex. */
  readonly signature: string;
  readonly zeros: number;
}

export interface FinalBlockRecord {
  readonly height: number;
  readonly hash: string;
  readonly previousHash: string;
  readonly timestamp: number;
  readonly clerk: string;
  /** The clerk's winning draw round. */
  readonly drawRound: number;
  readonly final: boolean;
  /** From the first draw of the height to the final message (or to giving up). */
  readonly msToFinal: number;
  /** The verified votes the final message carried (none when not final). */
  readonly votes: readonly Vote[];
  readonly quorum: number;
  readonly attempts: number;
  readonly txCount: number;
  /** Valid seals, best priority first. */
  readonly seals: readonly SealRecord[];
}

export type PrimaryEvent =
  | { readonly type: 'draw'; readonly height: number; readonly clerk: string; readonly round: number; readonly zeros: number; readonly attempt: number }
  | { readonly type: 'candidate'; readonly height: number; readonly hash: string; readonly clerk: string; readonly drawRound: number; readonly txCount: number; readonly attempt: number }
  | { readonly type: 'seal'; readonly height: number; readonly hash: string; readonly node: string; readonly round: number; readonly zeros: number; readonly msAfterCandidate: number }
  | { readonly type: 'seal-rejected'; readonly clerk: string; readonly code: SealRejectCode; readonly message: string; readonly node?: string }
  /** Published retained at start: what every node of the network verifies under the root key. */
  | { readonly type: 'manifest'; readonly network: string; readonly rootPublicKey: string; readonly manifest: SignedManifest }
  /** `votes`: verified votes for the block; `voters`: their members (vote keys, hex). */
  | { readonly type: 'vote'; readonly height: number; readonly hash: string; readonly votes: number; readonly quorum: number; readonly voters: readonly string[] }
  /** A member's vote that does not verify under its key in the manifest: not counted. */
  | { readonly type: 'vote-rejected'; readonly height: number; readonly hash: string; readonly member: string }
  | { readonly type: 'redraw'; readonly height: number; readonly attempt: number; readonly reason: string }
  | { readonly type: 'final'; readonly block: FinalBlockRecord };

export interface PrimaryStats {
  candidates: number;
  redraws: number;
  finals: number;
  sealsAccepted: number;
  /** Votes that did not verify against the manifest's committee (never counted). */
  votesRejected: number;
  sealsRejected: Record<SealRejectCode, number>;
}
