// Typed errors of the transport (MQTT client, in-process broker, BtnCmd frames and links).
import { CodedError } from '../core/errors.ts';

export type TransportErrorCode =
  | 'ERR_TRANSPORT_OPTIONS' // bad constructor / call arguments
  | 'ERR_TRANSPORT_CLOSED' // the transport or link was closed
  | 'ERR_TRANSPORT_PAYLOAD' // an outbound payload is too large or not serializable
  | 'ERR_TRANSPORT_BROKER' // the in-process broker could not start
  | 'ERR_TRANSPORT_LINK' // BtnCmd TCP link failure (connect, idle timeout, backpressure overflow)
  | 'ERR_BTNCMD_FRAME'; // BtnCmd stream is garbage: the caller must drop the link

export class TransportError extends CodedError<TransportErrorCode> {
  override readonly name: string = 'TransportError';
  constructor(code: TransportErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/** Why a BtnCmd stream was rejected. Every one of these means: close the socket. */
export type FrameErrorReason =
  | 'bad-flag' // flag is not one of the known magic values (and no resync possible)
  | 'negative-length'
  | 'oversize' // length above the configured cap
  | 'invalid-utf8'
  | 'bad-body' // body is not `name{json}` or the JSON is not an object
  | 'truncated'; // stream ended in the middle of a frame

export class FrameError extends TransportError {
  override readonly name = 'FrameError';
  constructor(
    readonly reason: FrameErrorReason,
    message: string,
    detail?: Record<string, unknown>,
  ) {
    super('ERR_BTNCMD_FRAME', message, { reason, ...detail });
  }
}
