// Typed errors of the provisioning service. Each code maps to one HTTP status (server/http.ts),
// so a device or a script can act on the code alone.
import { CodedError } from '../firmware/core/errors.ts';

export type ProvisioningErrorCode =
  | 'ERR_PROV_INVALID_ARGUMENT' // a value from outside failed validation (400)
  | 'ERR_PROV_BODY_TOO_LARGE' // request body over its cap (413)
  | 'ERR_PROV_BODY_TIMEOUT' // a request body that did not arrive in time (408): a slow client holds no connection for long
  | 'ERR_PROV_RATE_LIMITED' // too many uploads at once from one manufacturer (429; retry after a while)
  | 'ERR_PROV_UNSUPPORTED_MEDIA' // wrong content type (415)
  | 'ERR_PROV_NOT_FOUND' // route or record does not exist (404)
  | 'ERR_PROV_UNAUTHORIZED' // missing or wrong operator token (401)
  | 'ERR_PROV_BAD_SIGNATURE' // a batch's or a network manifest's signature does not verify (400)
  | 'ERR_PROV_UNKNOWN_MANUFACTURER' // batch from a manufacturer not registered (403)
  | 'ERR_PROV_MANUFACTURER_CONFLICT' // a manufacturer of that name exists with another key (409)
  | 'ERR_PROV_BATCH_TOO_LARGE' // too many lines or bytes in a batch (413)
  | 'ERR_PROV_NOT_FILED' // activation for a TPM that was never filed (404)
  | 'ERR_PROV_REVOKED' // the TPM/node is revoked (403)
  | 'ERR_PROV_SUPERSEDED' // a later (re-)activation of the same TPM completed while this one set the broker password (409; its answer is the valid one)
  | 'ERR_PROV_SEALING_KEY_MISMATCH' // the sealing key differs from the filed one (409)
  | 'ERR_PROV_SEALING_KEY_INVALID' // the sealing key lacks required attributes (400)
  | 'ERR_PROV_CHALLENGE_UNKNOWN' // no such challenge (404)
  | 'ERR_PROV_CHALLENGE_USED' // replayed proof (409)
  | 'ERR_PROV_CHALLENGE_EXPIRED' // proof came too late (410)
  | 'ERR_PROV_BAD_PROOF' // the secret does not match (400)
  | 'ERR_PROV_MANIFEST_SUCCESSION' // a network manifest that cannot follow the published one: version, genesis or network (409)
  | 'ERR_PROV_KEY_FILE' // unreadable or malformed key file
  | 'ERR_PROV_BUNDLE_INVALID' // a vendor CA bundle that is not one: bad JSON, field or certificate
  | 'ERR_PROV_BUNDLE_UNSIGNED' // a vendor CA bundle without a signature
  | 'ERR_PROV_BUNDLE_BAD_SIGNATURE' // a vendor CA bundle whose signature does not verify with the release key
  | 'ERR_PROV_BUNDLE_OLDER' // a vendor CA bundle older than (or, at the same version, other than) one loaded before
  | 'ERR_PROV_STORE' // the store failed (500)
  | 'ERR_PROV_STORE_URL' // unsupported or malformed store URL
  | 'ERR_PROV_CREDENTIAL_UNAVAILABLE' // MakeCredential is not available (503)
  | 'ERR_PROV_BROKER_UNAVAILABLE' // the broker's account for the node could not be made (503; the device retries)
  | 'ERR_PROV_WORKER_FAILED' // a verification worker thread failed (500)
  | 'ERR_PROV_UNREACHABLE'; // the service could not be reached (client side)

export class ProvisioningError extends CodedError<ProvisioningErrorCode> {
  override readonly name = 'ProvisioningError';
  /** The field at fault, when one is. */
  readonly field: string | undefined;

  constructor(code: ProvisioningErrorCode, message: string, field?: string, options?: { cause?: unknown }) {
    super(code, message, field === undefined ? undefined : { field }, options);
    this.field = field;
  }
}

export const invalid = (message: string, field?: string): ProvisioningError =>
  new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', message, field);
