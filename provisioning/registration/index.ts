export {
  issueRegistrationCertificate, verifyRegistrationCertificate, REGISTRATION_FORMAT,
  type RegistrationCertificate, type RegistrationFields,
} from './certificate.ts';
export { signRevocationList, verifyRevocationList, REVOCATION_FORMAT, type RevocationList, type RevokedNode } from './revocation-list.ts';
