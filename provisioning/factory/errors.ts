// Typed errors of the factory station. A station operator acts on the code: fix the TPM, pick
// another serial, wait for the other station, or start a new batch file.
import { CodedError } from '../../firmware/core/errors.ts';

export type FactoryErrorCode =
  | 'ERR_FACTORY_ARGUMENT' // bad option or list entry
  | 'ERR_FACTORY_NO_EK_CERT' // the TPM has no EK certificate; the root node would reject it
  | 'ERR_FACTORY_EK_UNSUPPORTED' // the EK cannot be activated by the root node (not RSA-2048 L-1, bad certificate)
  | 'ERR_FACTORY_SEALING_KEY' // the sealing key is missing required attributes
  | 'ERR_FACTORY_TPM' // the TPM failed or could not be reached
  | 'ERR_FACTORY_EK_CONFLICT' // this TPM is in the batch already under another serial/board/key
  | 'ERR_FACTORY_SERIAL_TAKEN' // the serial is in the batch already for another TPM
  | 'ERR_FACTORY_BATCH_FULL' // the batch reached MAX_BATCH_LINES
  | 'ERR_FACTORY_BATCH_CORRUPT' // a line of the batch that concerns this TPM does not parse
  | 'ERR_FACTORY_BATCH_IO' // the batch file could not be read or written
  | 'ERR_FACTORY_LOCK_TIMEOUT'; // another station held the batch lock too long

export class FactoryError extends CodedError<FactoryErrorCode> {
  override readonly name = 'FactoryError';
  constructor(code: FactoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, undefined, options);
  }
}
