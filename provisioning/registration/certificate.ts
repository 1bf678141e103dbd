// Registration certificates (docs/activation.md): a JSON object signed with the root's Ed25519 key.
// The format and the verifier live in firmware/protocol/registration.ts (devices and clerks
// verify them); the registrar issues them here.
import { registrationFields, registrationSignedBytes, REGISTRATION_FORMAT, type RegistrationCertificate, type RegistrationFields } from '../../firmware/protocol/registration.ts';
import { ed25519Sign, type Ed25519Key } from '../keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';

export { verifyRegistrationCertificate, REGISTRATION_FORMAT, type RegistrationCertificate, type RegistrationFields } from '../../firmware/protocol/registration.ts';

export function issueRegistrationCertificate(root: Ed25519Key, fields: RegistrationFields): RegistrationCertificate {
  return { format: REGISTRATION_FORMAT, ...registrationFields(fields), signature: toHex(ed25519Sign(root, registrationSignedBytes(fields))) };
}
