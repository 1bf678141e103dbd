// Messages exchanged between nodes over MQTT (payload formats; the topics live in transport/).
export { ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { DEFAULT_PARAMS, MAX_PARAMS_BYTES, parseParams, readParams, type NetworkParams } from './params.ts';
export { encodeSealMessage, parseSealMessage, readSealMessage, MAX_SEAL_MESSAGE_BYTES, type SealMessage } from './seal-message.ts';
export { encodeFinalMessage, parseFinalMessage, readFinalMessage, MAX_FINAL_MESSAGE_BYTES, type FinalMessage } from './final-message.ts';
export type { Json } from './fields.ts';
export { verifyRegistrationCertificate, registrationSignedBytes, REGISTRATION_FORMAT, type RegistrationCertificate, type RegistrationFields } from './registration.ts';
export { verifyRevocationList, revocationSignedBytes, REVOCATION_FORMAT, type RevocationList, type RevokedNode } from './revocation-list.ts';
