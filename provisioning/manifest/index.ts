export {
  batchSignedMessage, batchId, checkManufacturerName, countLines, parseSignatureFile, parseSignatureHex, signManifest,
  verifyBatchSignature, verifyManifest, SIGNATURE_FORMAT, MANUFACTURER_NAME, type BatchSignature,
} from './signature.ts';
export {
  checkManifestLine, finishManifestLine, precheckManifestLine, ekNameOf, isRejection, parseManifestLine,
  LINE_REJECT_CODES, MAX_BATCH_LINES, MAX_LINE_BYTES, type LineRejectCode, type LineRejection, type ManifestLine, type PendingLine,
} from './line.ts';
export { LineSplitter, splitLines, type RawLine, type RawLineBytes } from './lines.ts';
export { TrustStore, type ChainFailure } from './trust.ts';
export { CertVerifyPool, type SignatureJob, type SignatureVerifier } from './cert-verify-pool.ts';
export { LineCheckPool } from './line-check-pool.ts';
export { checkChunk, type CheckedLine, type LineChecker, type LineChunk } from './line-chunk.ts';
export { ingestBatch, type BatchReport, type IngestInput, type LineResult, type LineStatus } from './ingest.ts';
