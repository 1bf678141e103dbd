// LAN status server (node:http): / (self-refreshing HTML page), /status.json, /headline.json,
// /history.json, /metrics (Prometheus text format). GET and HEAD only; everything else 404/405.
// A request whose Host header is not one of the machine's own names is refused (421: DNS rebinding).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { StatusError } from './errors.ts';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.ts';
import { headlineOf, type Headline } from './headline.ts';
import type { History } from './history.ts';
import { hostCheck } from './host-check.ts';
import { renderPage } from './page.ts';
import type { NodeStatus } from './node-status.ts';

export interface StatusServerOptions {
  readonly port: number;
  /** Default 0.0.0.0: the page is for the household's LAN. */
  readonly host?: string;
  readonly status: () => NodeStatus;
  /** Replaces the built-in /metrics rendering of the snapshot. */
  readonly metrics?: () => string;
  readonly logger?: Logger;
  /** How often the page refreshes itself, ms (default 3000). */
  readonly refreshMs?: number;
  /** The node's history (charts, recent blocks, today's counts); null until the node has one. */
  readonly history?: () => History | null;
  /** Names the page answers to besides localhost, the host name, <hostname>.local and the machine's addresses. */
  readonly hostNames?: readonly string[];
  /** A listening socket passed by systemd (socket activation): used instead of binding port and host. */
  readonly fd?: number | null;
}

export interface StatusServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const MAX_URL_CHARS = 2048;
/** FileDescriptorName= of the image's btn-node.socket: the status page's port 80, passed by systemd. */
export const STATUS_SOCKET_NAME = 'status';

export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const { port, fd } = options;
  if (fd != null && (!Number.isInteger(fd) || fd < 3)) throw new StatusError('ERR_STATUS_OPTIONS', `fd must be a passed socket (3 or more), got ${String(fd)}`);
  const host = options.host ?? '0.0.0.0';
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new StatusError('ERR_STATUS_OPTIONS', `port must be 0..65535, got ${String(port)}`);
  if (typeof options.status !== 'function') throw new StatusError('ERR_STATUS_OPTIONS', 'status must be a function returning the snapshot');
  const refreshMs = options.refreshMs ?? 3000;
  if (!Number.isInteger(refreshMs) || refreshMs < 100 || refreshMs > 3_600_000) throw new StatusError('ERR_STATUS_OPTIONS', `refreshMs must be 100..3600000, got ${String(refreshMs)}`);
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'status-server' });

  const hosts = hostCheck({ listenHost: host, ...(options.hostNames === undefined ? {} : { extra: options.hostNames }) });
  const history = (): History | null => options.history?.() ?? null;
  const headline = (s: NodeStatus): Headline => {
    const midnight = new Date(s.updatedAt).setHours(0, 0, 0, 0);
    return headlineOf(s, history()?.countSince(midnight) ?? { tested: 0, sealed: 0 });
  };

  const send = (req: IncomingMessage, res: ServerResponse, code: number, type: string, body: string, extra: Record<string, string> = {}): void => {
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(code, {
      'content-type': type, 'content-length': String(bytes.length), 'cache-control': 'no-store',
      'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', ...extra,
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const raw = req.url ?? '/';
    if (raw.length > MAX_URL_CHARS) return send(req, res, 414, 'text/plain; charset=utf-8', 'URI too long\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
    if (!hosts.allows(req.headers.host)) {
      const asked = (req.headers.host ?? '(none)').slice(0, 100);
      return send(req, res, 421, 'text/plain; charset=utf-8', `This status page answers only to its own names (localhost, its host name, <hostname>.local, its addresses), not to "${asked}". Open it by one of those.\n`);
    }
    const path = raw.split('?', 1)[0];
    try {
      if (path === '/') {
        const nonce = randomBytes(16).toString('base64');
        // [CSP3] only this response's inline style and script run; fetch only to this origin
        const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
        const s = options.status();
        const h = history();
        const page = renderPage(s, { nonce, refreshMs, headline: headline(s), history: h?.data() ?? null, now: s.updatedAt, historyNotice: h?.notice ?? null });
        return send(req, res, 200, 'text/html; charset=utf-8', page, { 'content-security-policy': csp });
      }
      if (path === '/status.json') return send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(options.status()));
      if (path === '/headline.json') return send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(headline(options.status())));
      if (path === '/history.json') return send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(history()?.data() ?? null));
      if (path === '/metrics') return send(req, res, 200, METRICS_CONTENT_TYPE, options.metrics ? options.metrics() : renderMetrics(options.status()));
      return send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
    } catch (err) {
      log.warn({ err: (err as Error).message, path }, 'status request failed');
      return send(req, res, 500, 'text/plain; charset=utf-8', 'status unavailable\n');
    }
  };

  const server = createServer(handle);
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const listening = (): void => { server.off('error', reject); resolve(); };
      if (fd != null) server.listen({ fd }, listening);
      else server.listen(port, host, listening);
    });
  } catch (cause) {
    const where = fd != null ? `the socket passed as fd ${fd}` : `${host}:${port}`;
    throw new StatusError('ERR_STATUS_LISTEN', `cannot listen on ${where}: ${(cause as Error).message}`, { host, port, fd }, { cause });
  }
  const actual = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  log.info({ host, port: actual, ...(fd != null ? { fd } : {}) }, 'status page listening');
  return {
    url: `http://${shown}:${actual}/`,
    port: actual,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
