// Typed errors of over-the-air updates: what refused a bundle (its signature, its board, its
// version), and what went wrong around RAUC and the update's state files.
import { CodedError } from '../core/errors.ts';

export type UpdateErrorCode =
  | 'ERR_UPDATE_FILE' // the bundle file is missing, not a regular file or too large
  | 'ERR_UPDATE_BUNDLE_REFUSED' // RAUC refused the bundle (unsigned, another key, tampered): its message is passed on
  | 'ERR_UPDATE_WRONG_BOARD' // the bundle's compatible is not this system's
  | 'ERR_UPDATE_DOWNGRADE' // older than the running version (without --force)
  | 'ERR_UPDATE_BELOW_FLOOR' // older than the downgrade floor (without --force)
  | 'ERR_UPDATE_VERSION' // a version that is not semantic (bundle, version file, floor)
  | 'ERR_UPDATE_RAUC' // rauc failed or answered something unreadable
  | 'ERR_UPDATE_STATE' // an update state file unreadable, malformed or not writable
  | 'ERR_UPDATE_REQUEST' // the agent's install request is malformed
  | 'ERR_UPDATE_ANNOUNCEMENT' // an announced update not taken: not for this node, no room, the download failed or differs

export class UpdateError extends CodedError<UpdateErrorCode> {
  override readonly name = 'UpdateError';
}
