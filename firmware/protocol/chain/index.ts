// Public API of the chain rules: encoding, hashing, validation, lottery. Pure code, no I/O
// (the verify pool's worker threads are the one exception, and they are opt-in).
export { ChainError } from './errors.ts';
export type { ChainErrorCode } from './errors.ts';
export { ByteReader, ByteWriter, U64_MAX } from './encoding.ts';
export { hexBytes, readChain } from './wire.ts';
export { HASH_BYTES as LOTTERY_HASH_BYTES, MAX_ROUND, comparePriority, lotteryMessage, qualifies, scoreTicket, thresholdFor, ticketOf } from './lottery.ts';
export type { TicketScore } from './lottery.ts';
export {
  PUBLIC_KEY_BYTES, SEED_BYTES, SIGNATURE_BYTES, TX_BODY_BYTES, TX_MAX_BYTES, TX_MIN_BYTES, TX_MAX_JSON_BYTES,
  addressFromPublicKey, decodeTransaction, ed25519PublicKeyObject, ed25519Sign, ed25519Verify, encodeTransaction,
  keyPairFromSeed, secondSignatureMessage, signTransaction, transactionBody, transactionFromJson, transactionId,
  transactionIdBytes, transactionToJson,
} from './transaction.ts';
export type { Ed25519KeyPair, Transaction, TransactionJson, UnsignedTransaction } from './transaction.ts';
export {
  BLOCK_VERSION, DEFAULT_BLOCK_CAPS, HASH_BYTES, MAX_CLERK_KEY_BYTES, MAX_HEADER_BYTES, MAX_RSA_SIGNATURE_BYTES,
  JSON_FACTOR, blockFromJson, blockHash, blockToJson, decodeBlock, decodeBlockEncoded, decodeSignedHeader, encodeBlock, encodeSignedHeader,
  encodeUnsignedHeader, parseBlockJson,
} from './block.ts';
export type { Block, BlockCaps, BlockHeader, BlockJson, EncodedBlock, SignedBlockHeader } from './block.ts';
export {
  CANDIDATE_FRAME_BYTES, CANDIDATE_MAGIC, CANDIDATE_WIRE_VERSION, candidateByteCaps, candidateCapFor, candidateEncodingOf, decodeCandidate,
  encodeCandidate, encodeCandidateFrame,
} from './candidate-wire.ts';
export type { CandidateByteCaps, CandidateEncoding, DecodedCandidate } from './candidate-wire.ts';
export { bodyBounds, decodeCandidateHeader, HEADER_MAGIC, HEADER_WIRE_VERSION, isHeaderFrame, joinBody, MAX_HEADER_FRAME_BYTES, splitCandidate } from './candidate-header.ts';
export type { BodyRefusalCode, CandidateHeader, JoinedBody, SplitCandidate } from './candidate-header.ts';
export { MERKLE_EMPTY_ROOT, merkleLeaf, merkleNode, merkleRoot, merkleRootOfSubtrees } from './merkle.ts';
export { PrimaryKeySet, rsaVerify } from './primaries.ts';
export { keyFingerprint, spkiOf } from '../identity.ts';
export type { KnownPrimaries } from './primaries.ts';
export { DEFAULT_CHAIN_PARAMS, validateCandidate, validateCandidateJson, validateHeader } from './validate.ts';
export type { ChainParams, ChainTip, RejectCode, RejectReason, ValidationContext, ValidationResult } from './validate.ts';
export { VerifyPool, checkTransactionsInline, checkTransactionsWith, firstInvalidInline, inlineVerifier } from './verify-pool.ts';
export type { BatchVerifier, SignatureCheck, TransactionCheck, TransactionChecksResult, VerifyPoolOptions } from './verify-pool.ts';
export { createBlock, createTransaction, drawSignature, drawUntilQualified, signHeader } from './build.ts';
export type { CreateBlockOptions, TransactionFields } from './build.ts';
