// provisioning: the root node's registrar (store, manifests, HTTP API, certificates,
// revocation) and the tools around it. Clerks and devices need only the verify functions.
export { ProvisioningError, type ProvisioningErrorCode } from './errors.ts';
export {
  ed25519FromSeed, ed25519PublicKeyObject, ed25519Sign, ed25519Verify, generateEd25519, parseKeyFile, readKeyFile, writeKeyFile,
  KEY_FILE_FORMAT, type Ed25519Key,
} from './keys.ts';
export {
  issueRegistrationCertificate, signRevocationList, verifyRegistrationCertificate, verifyRevocationList,
  REGISTRATION_FORMAT, REVOCATION_FORMAT, type RegistrationCertificate, type RegistrationFields, type RevocationList, type RevokedNode,
} from './registration/index.ts';
export {
  batchId, batchSignedMessage, checkManifestLine, ekNameOf, ingestBatch, parseManifestLine, parseSignatureFile,
  signManifest, verifyBatchSignature, verifyManifest, TrustStore, LINE_REJECT_CODES, MAX_BATCH_LINES, MAX_LINE_BYTES,
  SIGNATURE_FORMAT, type BatchReport, type BatchSignature, type LineRejectCode, type LineResult, type ManifestLine,
} from './manifest/index.ts';
export { openStore, DEFAULT_STORE_URL, type ProvisioningStore, type DeviceRecord, type DeviceState } from './store/index.ts';
export { createRegistrar, startRegistrar, type RegistrarOptions, type RunningRegistrar, type MakeCredential } from './server/index.ts';
export { makeCredential } from './credential.ts';
