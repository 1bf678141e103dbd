// Debian's chromium, headless, for the status page's tests and its bench: one run per call
// (--dump-dom, --screenshot), the requests a run made from its network log (--log-net-log), and a
// DevTools session over --remote-debugging-pipe (NUL-framed JSON on fds 3 and 4) for figures only
// the browser knows, such as the page's first paint.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** Nothing of Chromium's own (updates, sync, metrics) competes with the page. */
const QUIET = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-default-apps', '--disable-extensions',
];
/** Every name resolves to nothing but 127.0.0.1: a page that reached for a CDN would fail, not leave the machine. */
export const LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1';

/** Runs chromium once with a fresh profile (virtual time: the page's timers run without waiting); its stdout. */
export async function chromium(args: readonly string[], virtualTimeMs = 5000): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'btn-chromium-'));
  try {
    const { stdout } = await run('chromium', [...QUIET, `--user-data-dir=${profile}`, `--virtual-time-budget=${virtualTimeMs}`, ...args], { timeout: 60_000, maxBuffer: 4 * 2 ** 20 });
    return stdout;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

export interface NetRequest {
  readonly url: string;
  /** The origin that asked for it; 'not an origin' for a top-level navigation or the browser itself. */
  readonly initiator: string;
  /** 'main frame', 'other', ... as the net log names it. */
  readonly requestType: string;
  /** The partition the request belongs to: "<top-frame site> <frame site>", or "null null" for the browser's own requests. */
  readonly isolationKey: string;
}

export interface NetLog {
  /** Every URL request started (the browser's own included). */
  readonly requests: readonly NetRequest[];
  /** Every address a TCP connection was made to. */
  readonly connects: readonly string[];
}

/** Reads a --log-net-log file: the URL requests it started and the TCP connections it made. */
export async function readNetLog(file: string): Promise<NetLog> {
  const log = JSON.parse(await readFile(file, 'utf8')) as {
    constants: { logEventTypes: Record<string, number> };
    events: { type: number; params?: Record<string, unknown> }[];
  };
  const types = log.constants.logEventTypes;
  const requests: NetRequest[] = [];
  const connects: string[] = [];
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  for (const e of log.events) {
    const p = e.params;
    if (p === undefined) continue;
    if (e.type === types['URL_REQUEST_START_JOB'] && typeof p['url'] === 'string') {
      requests.push({ url: p['url'], initiator: text(p['initiator']), requestType: text(p['request_type']), isolationKey: text(p['network_isolation_key']) });
    }
    if (e.type === types['TCP_CONNECT'] && typeof p['remote_address'] === 'string') connects.push(p['remote_address']);
  }
  return { requests, connects };
}

/** Loads `url` with a network log; what the page asked for (its navigation and every request made in its partition), and the whole log. */
export async function pageRequests(url: string, extraArgs: readonly string[] = []): Promise<{ page: NetRequest[]; log: NetLog; dom: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'btn-netlog-'));
  try {
    const file = join(dir, 'net.json');
    const dom = await chromium([LOOPBACK_ONLY, `--log-net-log=${file}`, ...extraArgs, '--dump-dom', url]);
    const log = await readNetLog(file);
    const site = new URL(url).origin.replace(/:\d+$/, '');
    // The browser's own requests (update checks, time) carry no page's partition.
    const page = log.requests.filter((r) => r.isolationKey.split(' ').includes(site) || r.initiator === new URL(url).origin);
    return { page, log, dom };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One browser tab driven through the DevTools protocol. */
export interface DevToolsPage {
  /** Navigates and waits for the load event. */
  load(url: string): Promise<void>;
  /** Evaluates an expression in the page (a promise is awaited); its JSON value. Runs outside the page's CSP. */
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

interface Message { id?: number; method?: string; sessionId?: string; result?: Record<string, any>; error?: { message: string } }

export async function openDevToolsPage(): Promise<DevToolsPage> {
  const profile = await mkdtemp(join(tmpdir(), 'btn-chromium-cdp-'));
  const child: ChildProcess = spawn('chromium', [...QUIET, LOOPBACK_ONLY, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
  });
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  const pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(m: Message) => void>();
  let nextId = 0;
  let buffered = '';
  fromBrowser.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
      const m = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      const waiter = m.id === undefined ? undefined : pending.get(m.id);
      if (waiter !== undefined) {
        pending.delete(m.id!);
        if (m.error) waiter.reject(new Error(`DevTools: ${m.error.message}`));
        else waiter.resolve(m);
      } else for (const l of listeners) l(m);
    }
  });
  child.once('exit', (code) => {
    for (const w of pending.values()) w.reject(new Error(`chromium exited (${String(code)})`));
    pending.clear();
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Message> => new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, { resolve, reject });
    toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) }) + '\0');
  });
  const target = await send('Target.createTarget', { url: 'about:blank' });
  const session = String((await send('Target.attachToTarget', { targetId: target.result!['targetId'], flatten: true })).result!['sessionId']);
  await send('Page.enable', {}, session);
  return {
    async load(url) {
      let off = (): void => undefined;
      const loaded = new Promise<void>((resolve) => {
        const l = (m: Message): void => { if (m.method === 'Page.loadEventFired' && m.sessionId === session) resolve(); };
        listeners.add(l);
        off = () => listeners.delete(l);
      });
      await send('Page.navigate', { url }, session);
      await loaded;
      off();
    },
    async evaluate<T>(expression: string) {
      const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, session);
      if (r.result!['exceptionDetails'] !== undefined) throw new Error(`evaluate failed: ${JSON.stringify(r.result!['exceptionDetails']).slice(0, 500)}`);
      return r.result!['result'].value as T;
    },
    async close() {
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve));
      await send('Browser.close').catch(() => undefined);
      await exited;
      await rm(profile, { recursive: true, force: true });
    },
  };
}
