// A node's broker identity, released through its TPM at activation: the root makes a second
// credential (MakeCredential, as for the activation challenge) around a fresh secret, so that only
// the TPM that holds the filed EK and sealing key can recover it with ActivateCredential; both
// sides derive the broker password from that secret. The password never travels in clear and
// is never logged; the user name is the node id. Re-activation rotates it; revocation disables
// the account on the broker.
import { hkdfSync } from 'node:crypto';

export const BROKER_PASSWORD_INFO = 'btn-broker-password/v1';

/** What the proof answer carries when the root manages the broker's accounts. */
export interface BrokerCredentialOffer {
  /** The node id. */
  readonly username: string;
  /** TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, hex, as the activation challenge's. */
  readonly credentialBlob: string;
  readonly encryptedSecret: string;
}

/** The broker password for `nodeId` from the secret the TPM released: HKDF-SHA256, 32 bytes, base64url. */
export function brokerPassword(secret: Uint8Array, nodeId: string): string {
  return Buffer.from(hkdfSync('sha256', secret, new Uint8Array(0), `${BROKER_PASSWORD_INFO}\n${nodeId}`, 32)).toString('base64url');
}
