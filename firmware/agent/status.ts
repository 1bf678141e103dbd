// What the agent tells a household (btn-node status) and the network (retained status topic):
// activation, TPM, broker, chain height, seal counts, recent errors. Written atomically to
// <stateDir>/status.json (temp file + rename: a reader never sees half a file).
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { SpinOutcomeKind } from '../sealing/engine.ts';
import { describeFsError } from '../sealing/fs-errors.ts';
import { AgentError } from './errors.ts';
import { STATUS_FILE_FAULT_KEY, type FaultBoard } from './faults.ts';

export const STATUS_FILE = 'status.json';

/** The account the agent runs as (an operator checks that the service is not root). */
export const PROCESS_USER = ((): string => {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
})();
export const MAX_STATUS_FILE_BYTES = 256 * 1024;
const MAX_LAST_ERRORS = 10;

export interface AgentStatus {
  readonly version: 1;
  readonly nodeId: string;
  readonly state: 'idle' | 'running' | 'stopped';
  readonly pid: number;
  readonly startedAt: number | null;
  readonly updatedAt: number;
  readonly uptimeMs: number;
  readonly activation: { readonly state: 'active' | 'not-activated' | 'revoked'; readonly reason?: string };
  readonly tpm: {
    readonly manufacturer: string;
    readonly vendor: string;
    readonly firmwareVersion: string;
    readonly sealingKey: { readonly handle: string; readonly publicKeyPem: string; readonly name: string } | null;
  } | null;
  readonly broker: { readonly connected: boolean; readonly state: string };
  readonly chain: { readonly height: number; readonly tipHash: string; readonly finalizedHeight: number; readonly paramsVersion: number };
  readonly seals: { readonly made: number; readonly reused: number; readonly published: number; readonly notDelivered: number };
  readonly spins: Readonly<Record<SpinOutcomeKind, number>>;
  readonly spinning: number;
  /** Candidates not sealed, by reason (validation reasons, journal refusals). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Messages dropped as invalid, by topic kind. */
  readonly invalidMessages: Readonly<Record<string, number>>;
  readonly lastErrors: readonly { readonly at: number; readonly code: string; readonly message: string }[];
  /** Faults now (full or read-only disk, journal down); empty when healthy. Absent in older files. */
  readonly faults?: readonly { readonly key: string; readonly code: string; readonly message: string; readonly since: number }[];
}

/** Counters behind AgentStatus. */
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

export async function writeStatusFile(stateDir: string, status: AgentStatus): Promise<void> {
  const path = join(stateDir, STATUS_FILE);
  try {
    // Display only and rewritten every few seconds: never half-written, but not fsynced (SD-card wear).
    await writeFileAtomic(path, JSON.stringify(status, null, 2) + '\n', { mode: 0o644, durable: false });
  } catch (cause) {
    throw new AgentError('ERR_AGENT_STATUS_FILE', `status file not written: ${describeFsError(cause, path)}`, { path }, { cause });
  }
}

/** Writes status.json; a failure is the status-file fault (said once by the board), a success ends it. */
export async function writeStatusReported(stateDir: string, status: AgentStatus, faults: FaultBoard): Promise<void> {
  try {
    await writeStatusFile(stateDir, status);
    faults.clear(STATUS_FILE_FAULT_KEY, 'written again');
  } catch (err) {
    faults.raise(STATUS_FILE_FAULT_KEY, 'ERR_AGENT_STATUS_FILE', (err as Error).message);
  }
}

/** Reads status.json; null when no agent has written one. Throws on an unreadable or malformed file. */
export async function readStatusFile(stateDir: string): Promise<AgentStatus | null> {
  const path = join(stateDir, STATUS_FILE);
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_STATUS_FILE_BYTES) throw new AgentError('ERR_AGENT_STATUS_FILE', `${path} is ${bytes.length} bytes, more than ${MAX_STATUS_FILE_BYTES}`, { path });
    text = bytes.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof AgentError) throw err;
    throw new AgentError('ERR_AGENT_STATUS_FILE', `cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AgentError('ERR_AGENT_STATUS_FILE', `${path} is not JSON`, { path });
  }
  const o = value as Partial<AgentStatus> | null;
  if (o === null || typeof o !== 'object' || o.version !== 1 || typeof o.nodeId !== 'string' || typeof o.state !== 'string' || typeof o.chain !== 'object' || typeof o.seals !== 'object') {
    throw new AgentError('ERR_AGENT_STATUS_FILE', `${path} is not an agent status (version 1)`, { path });
  }
  return o as AgentStatus;
}
