// JSON over HTTP(S) to the registrar with a whole-request deadline and a cap on the response
// size (a hostile or broken server must not make a device buffer without bound).
// node:http rather than fetch: fetch is experimental on Node 18 (the device runtime).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { RegistrarApiError } from './errors.ts';

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
}

export interface JsonRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly url: URL;
  /** A JSON document, or raw bytes / a stream sent as they are (then give content-type and content-length). */
  readonly body?: { readonly json: unknown } | { readonly raw: Uint8Array | Readable };
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

export function requestJson(req: JsonRequest): Promise<JsonResponse> {
  const where = `${req.method} ${req.url.href}`;
  const origin = req.url.origin;
  const body = req.body;
  const payload = body !== undefined && 'json' in body ? Buffer.from(JSON.stringify(body.json), 'utf8') : undefined;
  const send = req.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<JsonResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: RegistrarApiError | null, value?: JsonResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        r.destroy();
        reject(err);
      } else resolve(value!);
    };
    const r = send(req.url, {
      method: req.method,
      headers: {
        accept: 'application/json',
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        ...req.headers,
      },
    });
    // One deadline for connect + send + whole response (a trickling server cannot hold us).
    const timer = setTimeout(() => {
      finish(new RegistrarApiError('ERR_REGISTRAR_UNREACHABLE', `root node at ${origin} did not answer ${where} within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    r.on('error', (err: NodeJS.ErrnoException) => {
      finish(new RegistrarApiError('ERR_REGISTRAR_UNREACHABLE', `root node at ${origin} is unreachable: ${connectProblem(err)}`, {}, { cause: err }));
    });
    r.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > req.maxBytes) {
        finish(new RegistrarApiError('ERR_REGISTRAR_BAD_RESPONSE', `${where}: response of ${declared} bytes is over the ${req.maxBytes}-byte cap`, { status }));
        return;
      }
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > req.maxBytes) {
          finish(new RegistrarApiError('ERR_REGISTRAR_BAD_RESPONSE', `${where}: response is over the ${req.maxBytes}-byte cap`, { status }));
          return;
        }
        parts.push(chunk);
      });
      res.on('error', (err) => finish(new RegistrarApiError('ERR_REGISTRAR_UNREACHABLE', `${where}: connection lost: ${err.message}`, {}, { cause: err })));
      res.on('aborted', () => finish(new RegistrarApiError('ERR_REGISTRAR_UNREACHABLE', `${where}: connection lost mid-response`)));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          // A 5xx from a proxy in front of the root is an outage, not a protocol error.
          if (status >= 500) {
            finish(new RegistrarApiError('ERR_REGISTRAR_UNREACHABLE', `root node at ${origin} answered ${where} with HTTP ${status}`, { status }));
          } else {
            finish(new RegistrarApiError('ERR_REGISTRAR_BAD_RESPONSE', `${where}: HTTP ${status} with a body that is not JSON`, { status }));
          }
          return;
        }
        finish(null, { status, body: parsed });
      });
    });
    if (body !== undefined && 'raw' in body) {
      if (body.raw instanceof Uint8Array) r.end(body.raw);
      else {
        body.raw.on('error', (err: Error) => finish(new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', `${where}: the request body could not be read: ${err.message}`, {}, { cause: err })));
        body.raw.pipe(r);
      }
    } else r.end(payload);
  });
}

/** The errno first (what logs are searched for), then what a household or installer can check. */
function connectProblem(err: NodeJS.ErrnoException): string {
  const hint: Record<string, string> = {
    ECONNREFUSED: 'connection refused: nothing listens there',
    ENOTFOUND: 'host name not found: check the URL and DNS',
    EAI_AGAIN: 'host name not resolved now: check DNS',
    EHOSTUNREACH: 'no route to the host: check the network',
    ENETUNREACH: 'network unreachable: check the network',
    ECONNRESET: 'connection reset by the peer',
    ETIMEDOUT: 'connection timed out',
  };
  const h = err.code === undefined ? undefined : hint[err.code];
  return h === undefined ? err.code ?? err.message : `${err.code} (${h})`;
}
