// Bytes on the wire per message kind, measured once with the project's real encoders on real keys
// (a throwaway RSA-2048 clerk and sealing key, an Ed25519 root and committee), so the simulator's
// byte counts are the protocol's, not guesses.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createBlock } from '../protocol/chain/build.ts';
import { encodeCandidateFrame } from '../protocol/chain/candidate-wire.ts';
import { encodeFinalMessage } from '../protocol/final-message.ts';
import { nodeIdOf } from '../protocol/identity.ts';
import { signVote } from '../protocol/quorum.ts';
import { encodeSealMessage } from '../protocol/seal-message.ts';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { issueRegistrationCertificate } from '../../provisioning/registration/certificate.ts';
import { TxGenerator } from '../devnet/tx-generator.ts';

export interface MessageSizes {
  /** The whole candidate (binary frame) with its transactions. */
  readonly candidate: number;
  /** The candidate without its transactions: what header-first sends to every node. */
  readonly header: number;
  /** The block body a qualifier fetches under header-first: candidate minus header. */
  readonly body: number;
  /** A seal with its root-signed registration. */
  readonly seal: number;
  /** One committee member's vote as its own message. */
  readonly vote: number;
  /** The final message with a quorum of votes. */
  readonly final: number;
}

/** One message of each kind, as the project encodes it (the load test sends these bytes). */
export interface SampleMessages {
  readonly candidate: Uint8Array;
  readonly header: Uint8Array;
  readonly seal: Uint8Array;
  readonly vote: Uint8Array;
  readonly final: Uint8Array;
}

export function measureMessageSizes(o: { readonly txPerBlock: number; readonly quorum: number; readonly sealersPerFinal: number }): MessageSizes {
  const m = sampleMessages(o);
  return { candidate: m.candidate.length, header: m.header.length, body: Math.max(0, m.candidate.length - m.header.length), seal: m.seal.length, vote: m.vote.length, final: m.final.length };
}

export function sampleMessages(o: { readonly txPerBlock: number; readonly quorum: number; readonly sealersPerFinal: number }): SampleMessages {
  const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sealing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const previousHash = new Uint8Array(randomBytes(32));
  const timestamp = Date.now();
  const transactions = new TxGenerator({ seed: 'btn-simulate' }).next(o.txPerBlock, Math.floor(timestamp / 1000));
  const full = createBlock({ clerkKey: clerk.privateKey, height: 1, previousHash, timestamp, drawRound: 0, transactions });
  const bare = createBlock({ clerkKey: clerk.privateKey, height: 1, previousHash, timestamp, drawRound: 0 });
  const candidate = encodeCandidateFrame(full);
  const header = encodeCandidateFrame(bare);
  const root = generateEd25519().key;
  const sealingPem = sealing.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const nodeId = nodeIdOf(sealingPem);
  const registration = issueRegistrationCertificate(root, {
    nodeId, sealingPublicKey: sealingPem, ekName: '00'.repeat(34), board: 'rpi4', serial: 'SIM-000001',
    issuedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 365 * 86_400_000).toISOString(),
  });
  const seal = Buffer.from(encodeSealMessage({
    nodeId, height: 1, blockHash: previousHash, clerk: 'ab'.repeat(32), round: 0, signature: new Uint8Array(256), registration: { ...registration }, expiresAt: Date.now(),
  }));
  const members = Array.from({ length: o.quorum }, () => generateEd25519().key);
  const voted = { height: 1, hash: previousHash, timestamp };
  const votes = members.map((m) => signVote(m.privateKeyObject, m.publicKey, 'mainnet', voted));
  const vote = Buffer.from(JSON.stringify({ v: 1, height: 1, hash: '00'.repeat(32), timestamp, ...votes[0] }));
  const final = Buffer.from(encodeFinalMessage({
    height: 1, hash: previousHash, timestamp, clerk: 'ab'.repeat(32), sealedBy: Array.from({ length: o.sealersPerFinal }, () => nodeId), votes,
  }));
  return { candidate, header, seal, vote, final };
}
