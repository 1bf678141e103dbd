// Messages exchanged between nodes over MQTT (payload formats; the topics live in transport/).
//
// One rule for every network message (seal, final, params, candidate block, revocation list):
// - each has one schema (a ProtocolSchema: its size cap and one reader on firmware/core/json.ts);
//   the transport parses it once under that cap and reads it once, and handlers get typed values;
// - unknown keys are refused: a message means exactly what its schema says;
// - hex is written lowercase and read in either case (normalized: bytes, or lowercase text),
//   except text that is signed as it stands (certificates), which must already be lowercase.
export { ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { DEFAULT_PARAMS, MAX_PARAMS_BYTES, paramsMessage, type NetworkParams } from './params.ts';
export { encodeSealMessage, sealMessage, MAX_SEAL_MESSAGE_BYTES, type SealMessage } from './seal-message.ts';
export { encodeFinalMessage, finalMessage, MAX_FINAL_MESSAGE_BYTES, type FinalMessage } from './final-message.ts';
export { MESSAGE_ID, messageSchema, protocolError, type Json, type ProtocolSchema } from './message-schema.ts';
export { verifyRegistrationCertificate, registrationSignedBytes, REGISTRATION_FORMAT, type RegistrationCertificate, type RegistrationFields } from './registration.ts';
export { verifyRevocationList, revocationSignedBytes, REVOCATION_FORMAT, type RevocationList, type RevokedNode } from './revocation-list.ts';
