// Errors for messages that arrive from the network (MQTT payloads, BtnCmd bodies).
import { CodedError } from '../core/errors.ts';

export type ProtocolErrorCode = 'ERR_PROTOCOL_MALFORMED' | 'ERR_PROTOCOL_OVERSIZE' | 'ERR_PROTOCOL_CERTIFICATE_INVALID' | 'ERR_PROTOCOL_QUORUM' | 'ERR_PROTOCOL_MANIFEST' | 'ERR_PROTOCOL_ROOT_KEY'
  | 'ERR_PROTOCOL_ROOT_CHAIN_BROKEN' | 'ERR_PROTOCOL_ROOT_CHAIN_SIGNER' | 'ERR_PROTOCOL_ROOT_CHAIN_END' | 'ERR_PROTOCOL_OPTIONS' | 'ERR_PROTOCOL_TOPIC';

export class ProtocolError extends CodedError<ProtocolErrorCode> {
  override readonly name: string = 'ProtocolError';
  constructor(code: ProtocolErrorCode, message: string, readonly field?: string) {
    super(code, message, field === undefined ? undefined : { field });
  }
}
