// A network message's schema: its own size cap and one reader (firmware/core/json.ts), used by
// the transport (which parses once under the cap and reads once) and by parse() for raw bytes.
// The rule for every network message is written in firmware/protocol/index.ts.
import { JsonError, parseJson, string, type MessageSchema, type Reader } from '../core/json.ts';
import { ProtocolError } from './errors.ts';

/** A JSON object carried inside a message and read by a reader of its own (a registration certificate). */
export type Json = Readonly<Record<string, unknown>>;

/** Node ids and clerk fingerprints as they appear in messages. */
export const MESSAGE_ID = string({ min: 1, max: 128, pattern: /^[0-9a-zA-Z_-]+$/ });

export interface ProtocolSchema<T> extends MessageSchema<T> {
  /** From bytes or text: size-capped, then JSON, then read. */
  parse(payload: Uint8Array | string): T;
}

/** `name` is the message's root in error paths ("seal.signature: ..."). */
export function messageSchema<T>(name: string, maxBytes: number, reader: Reader<T>): ProtocolSchema<T> {
  const read = (value: unknown): T => {
    try {
      return reader.read(value, name);
    } catch (err) {
      throw protocolError(err);
    }
  };
  return {
    name,
    maxBytes,
    read,
    parse(payload) {
      let value: unknown;
      try {
        value = parseJson(payload, maxBytes, `${name} message`);
      } catch (err) {
        throw protocolError(err);
      }
      return read(value);
    },
  };
}

/** A reader's JsonError as the protocol's error (same message, the path as the field). */
export function protocolError(err: unknown): unknown {
  if (!(err instanceof JsonError)) return err;
  return new ProtocolError(err.code === 'ERR_JSON_OVERSIZE' ? 'ERR_PROTOCOL_OVERSIZE' : 'ERR_PROTOCOL_MALFORMED', err.message, err.path === '' ? undefined : err.path);
}
