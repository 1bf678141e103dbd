// Small HTTP helpers over node:http: bounded JSON bodies, JSON replies, error mapping.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProvisioningError, type ProvisioningErrorCode } from '../errors.ts';
import { JsonError, parseJson, type Reader } from '../../firmware/core/json.ts';

export const MAX_JSON_BODY = 64 * 1024;

const STATUS: Record<ProvisioningErrorCode, number> = {
  ERR_PROV_INVALID_ARGUMENT: 400,
  ERR_PROV_BODY_TOO_LARGE: 413,
  ERR_PROV_BODY_TIMEOUT: 408,
  ERR_PROV_RATE_LIMITED: 429,
  ERR_PROV_UNSUPPORTED_MEDIA: 415,
  ERR_PROV_NOT_FOUND: 404,
  ERR_PROV_UNAUTHORIZED: 401,
  ERR_PROV_BAD_SIGNATURE: 400,
  ERR_PROV_UNKNOWN_MANUFACTURER: 403,
  ERR_PROV_MANUFACTURER_CONFLICT: 409,
  ERR_PROV_BATCH_TOO_LARGE: 413,
  ERR_PROV_NOT_FILED: 404,
  ERR_PROV_REVOKED: 403,
  ERR_PROV_SUPERSEDED: 409,
  ERR_PROV_SEALING_KEY_MISMATCH: 409,
  ERR_PROV_SEALING_KEY_INVALID: 400,
  ERR_PROV_CHALLENGE_UNKNOWN: 404,
  ERR_PROV_CHALLENGE_USED: 409,
  ERR_PROV_CHALLENGE_EXPIRED: 410,
  ERR_PROV_BAD_PROOF: 400,
  ERR_PROV_MANIFEST_SUCCESSION: 409,
  ERR_PROV_KEY_FILE: 500,
  ERR_PROV_BUNDLE_INVALID: 500,
  ERR_PROV_BUNDLE_UNSIGNED: 500,
  ERR_PROV_BUNDLE_BAD_SIGNATURE: 500,
  ERR_PROV_BUNDLE_OLDER: 500,
  ERR_PROV_STORE: 500,
  ERR_PROV_STORE_URL: 500,
  ERR_PROV_CREDENTIAL_UNAVAILABLE: 503,
  ERR_PROV_BROKER_UNAVAILABLE: 503,
  ERR_PROV_WORKER_FAILED: 500,
  ERR_PROV_UNREACHABLE: 502,
};

export function statusOf(err: unknown): number {
  return err instanceof ProvisioningError ? STATUS[err.code] : 500;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Error body: `{ error: { code, message, field? } }`; 5xx bodies never carry internal details. */
export function errorBody(err: unknown): { error: { code: string; message: string; field?: string } } {
  if (err instanceof ProvisioningError && statusOf(err) < 500) {
    return { error: err.field === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, field: err.field } };
  }
  // Retryable and said in words of our own, with nothing internal in them.
  if (err instanceof ProvisioningError && (err.code === 'ERR_PROV_CREDENTIAL_UNAVAILABLE' || err.code === 'ERR_PROV_BROKER_UNAVAILABLE')) return { error: { code: err.code, message: err.message } };
  const code = err instanceof ProvisioningError ? err.code : 'ERR_PROV_INTERNAL';
  return { error: { code, message: 'internal error; see the service log' } };
}

export function requireJson(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new ProvisioningError('ERR_PROV_UNSUPPORTED_MEDIA', 'content-type must be application/json');
}

/**
 * How long a small JSON body may take to arrive. The server's request timeout is sized for the
 * largest batch upload; a client trickling a 64 KiB body must not hold a connection that long.
 */
export const JSON_BODY_DEADLINE_MS = 15_000;

/** Read a whole request body up to `cap` bytes, within `deadlineMs`. */
export function readBody(req: IncomingMessage, cap: number, deadlineMs = JSON_BODY_DEADLINE_MS): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > cap) return Promise.reject(new ProvisioningError('ERR_PROV_BODY_TOO_LARGE', `body of ${declared} bytes is over the ${cap}-byte cap`));
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    // On a refusal the request is left paused and unread: the answer closes the connection.
    const settle = (err: Error | null): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError);
      if (err === null) resolve(Buffer.concat(parts));
      else {
        req.pause();
        reject(err);
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > cap) settle(new ProvisioningError('ERR_PROV_BODY_TOO_LARGE', `body is over the ${cap}-byte cap`));
      else parts.push(chunk);
    };
    const onEnd = (): void => settle(null);
    const onError = (err: Error): void => settle(err);
    const timer = setTimeout(() => settle(new ProvisioningError('ERR_PROV_BODY_TIMEOUT', `the request body did not arrive within ${deadlineMs / 1000} s`)), deadlineMs);
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/** A JSON body read once through its route's schema (exact keys); refusals name the field. */
export async function readJsonBody<T>(req: IncomingMessage, schema: Reader<T>, cap = MAX_JSON_BODY, deadlineMs = JSON_BODY_DEADLINE_MS): Promise<T> {
  requireJson(req);
  const body = await readBody(req, cap, deadlineMs);
  try {
    return schema.read(parseJson(body, cap, 'body'), '');
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', err.message, err.path === '' ? undefined : err.path);
  }
}
