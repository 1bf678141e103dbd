// The agent's side of the node's status (firmware/status/node-status.ts is the shape): the
// counters behind it, the account the agent runs as, and status.json writes reported as a fault.
import { userInfo } from 'node:os';
import type { SpinOutcomeKind } from '../sealing/engine.ts';
import { writeStatusFile, type NodeStatus } from '../status/index.ts';
import { STATUS_FILE_FAULT_KEY, type FaultBoard } from './faults.ts';
import type { DropEvent, DropReason, MqttTransport } from '../transport/mqtt-transport.ts';
import type { Topics } from '../protocol/topics.ts';

/** The account the agent runs as (an operator checks that the service is not root). */
export const PROCESS_USER = ((): string => {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
})();
const MAX_LAST_ERRORS = 10;

/** Counters behind NodeStatus. */
export class StatusCounters {
  readonly seals = { made: 0, reused: 0, published: 0, notDelivered: 0 };
  readonly spins: Record<SpinOutcomeKind, number> = { sealed: 0, refused: 0, inactive: 0, 'better-seal': 0, aborted: 0, deadline: 0, 'max-rounds': 0, failed: 0 };
  readonly rejected: Record<string, number> = {};
  readonly invalidMessages: Record<string, number> = {};
  readonly lastErrors: { at: number; code: string; message: string }[] = [];

  reject(code: string): void {
    this.rejected[code] = (this.rejected[code] ?? 0) + 1;
  }

  invalid(kind: string): void {
    this.invalidMessages[kind] = (this.invalidMessages[kind] ?? 0) + 1;
  }

  error(at: number, code: string, message: string): void {
    this.lastErrors.push({ at, code, message: message.slice(0, 500) });
    if (this.lastErrors.length > MAX_LAST_ERRORS) this.lastErrors.shift();
  }
}

/** Writes status.json; a failure is the status-file fault (said once by the board), a success ends it. */
export async function writeStatusReported(stateDir: string, status: NodeStatus, faults: FaultBoard): Promise<void> {
  try {
    await writeStatusFile(stateDir, status);
    faults.clear(STATUS_FILE_FAULT_KEY, 'written again');
  } catch (err) {
    faults.raise(STATUS_FILE_FAULT_KEY, 'ERR_AGENT_STATUS_FILE', (err as Error).message);
  }
}

/** The status page's broker line: connected or not, as whom, and what the broker said when it refused. */
export function brokerStatus(state: string, identity: MqttTransport['identity'] | undefined): NodeStatus['broker'] {
  const refused = identity !== undefined && identity.refused > 0 ? { refused: identity.refused, ...(identity.lastRefusal === null ? {} : { refusal: identity.lastRefusal }) } : {};
  const publishRefused = identity !== undefined && identity.publishRefused > 0
    ? { publishRefused: identity.publishRefused, ...(identity.lastPublishRefusal === null ? {} : { publishRefusal: identity.lastPublishRefusal }) } : {};
  const failure = state !== 'online' && identity?.lastFailure != null ? { failure: identity.lastFailure } : {};
  return { connected: state === 'online', state, ...(identity?.user == null ? {} : { user: identity.user }), ...refused, ...failure, ...publishRefused };
}

/** Drops that no schema saw (a schema's refusal is counted where it happens; an expired seal is ordinary). */
const UNREADABLE: ReadonlySet<DropReason> = new Set<DropReason>(['malformed-json', 'invalid-utf8', 'oversize']);

/**
 * The invalidMessages kind of a message the transport dropped unread, on a topic the node reads as
 * JSON; null for others (candidates and bodies are bytes, judged where they are read).
 */
export function unreadableKind(t: Topics, e: Pick<DropEvent, 'reason' | 'topic'>): string | null {
  if (!UNREADABLE.has(e.reason)) return null;
  if (e.topic === t.final) return 'final';
  if (e.topic === t.manifest) return 'manifest';
  if (e.topic === t.revocations) return 'revocations';
  return e.topic.startsWith(`${t.prefix}/seals/`) ? 'seal' : null;
}

/** The sealing key's self-test for the status: verified, or why not; undefined when none is given. Never throws. */
export async function selfTestOf(selfTest: (() => Promise<{ readonly verified: boolean }>) | undefined, at: number): Promise<{ verified: boolean; at: number; error?: string } | undefined> {
  if (selfTest === undefined) return undefined;
  try {
    return (await selfTest()).verified ? { verified: true, at } : { verified: false, at, error: 'the signature did not verify under the sealing key' };
  } catch (err) {
    return { verified: false, at, error: String((err as Error)?.message ?? err).slice(0, 200) };
  }
}
