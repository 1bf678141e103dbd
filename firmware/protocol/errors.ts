// Errors for messages that arrive from the network (MQTT payloads, BtnCmd bodies).
export type ProtocolErrorCode = 'ERR_PROTOCOL_MALFORMED' | 'ERR_PROTOCOL_OVERSIZE' | 'ERR_PROTOCOL_CERTIFICATE_INVALID' | 'ERR_PROTOCOL_QUORUM' | 'ERR_PROTOCOL_MANIFEST' | 'ERR_PROTOCOL_OPTIONS';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(readonly code: ProtocolErrorCode, message: string, readonly field?: string) {
    super(message);
  }

  toObject(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, field: this.field };
  }
}
