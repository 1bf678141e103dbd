// A config `btn-node run` cannot use, on a device whose config names a status page: the
// household that flashed an image and opens the page sees what is wrong (the same problems as
// the journal), instead of a page that never answers. The process then waits until it is
// stopped, without a restart loop, and ends with the config error (exit 78). A config whose
// status part is unreadable too has no page to show: the error goes out at once, as before.
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { listenFd } from '../core/listen-fds.ts';
import { startStatusServer, STATUS_SOCKET_NAME, type NodeStatus } from '../status/index.ts';
import { MAX_CONFIG_BYTES, STATUS_READER, type RunConfigError } from './run-config.ts';
import { readSetupProblems, type SetupProblem } from './setup-problems.ts';

/** The status page settings of a config that failed validation, or null when it names none usable. */
export function statusOfBrokenConfig(file: string): { readonly port: number; readonly host: string } | null {
  try {
    if (statSync(file).size > MAX_CONFIG_BYTES) return null;
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    const status = (value as Record<string, unknown>)['status'];
    return status === undefined ? null : STATUS_READER.read(status, 'status');
  } catch {
    return null;
  }
}

export function configFaultSnapshot(err: RunConfigError, startedAt: number, setup: readonly SetupProblem[] = []): NodeStatus {
  const message = `the node's config ${err.file} cannot be used: ${err.problems.join('; ')}`.slice(0, 2000);
  const now = Date.now();
  return {
    version: 1, nodeId: 'not configured', state: 'stopped', pid: process.pid, startedAt, updatedAt: now, uptimeMs: now - startedAt,
    activation: { state: 'not-activated', reason: 'not configured (see Problems now)' },
    tpm: null, broker: { connected: false, state: 'not configured' },
    chain: { height: 0, tipHash: '', finalizedHeight: -1, paramsVersion: 0 },
    seals: { made: 0, reused: 0, published: 0, notDelivered: 0 },
    spins: { sealed: 0, refused: 0, inactive: 0, 'better-seal': 0, aborted: 0, deadline: 0, 'max-rounds': 0, failed: 0 },
    spinning: 0, rejected: {}, invalidMessages: {},
    lastErrors: [{ at: startedAt, code: err.code, message }],
    // The set-up script's problems with btn-node.txt often say why the config it wrote is unusable.
    faults: [{ key: 'config', code: err.code, message, since: startedAt }, ...setup.map((p) => ({ ...p, code: 'ERR_SETUP_VALUE', since: startedAt }))],
  };
}

/** Serves the problems on the config's status page until `signal` (SIGTERM, SIGINT) stops it; returns at once without a usable page. */
export async function holdConfigFault(err: RunConfigError, o: { readonly signal: AbortSignal; readonly logger: Logger }): Promise<void> {
  const status = statusOfBrokenConfig(err.file);
  if (status === null) return;
  const startedAt = Date.now();
  const setup = readSetupProblems(err.file);
  const server = await startStatusServer({ port: status.port, host: status.host, fd: listenFd(STATUS_SOCKET_NAME), logger: o.logger, status: () => configFaultSnapshot(err, startedAt, setup) }).catch(() => null);
  if (server === null) return;
  o.logger.error({ code: err.code, file: err.file, problems: err.problems, page: server.url }, 'config cannot be used; its problems are on the status page until the service is stopped');
  try {
    if (!o.signal.aborted) await new Promise<void>((r) => o.signal.addEventListener('abort', () => r(), { once: true }));
  } finally {
    await server.close().catch(() => undefined);
  }
}
