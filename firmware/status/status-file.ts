// <stateDir>/status.json: the agent rewrites it every few seconds (temp file + rename: a reader
// never sees half a file); `btn-node status` and the tests read it back through parseNodeStatus.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { describeFsError } from '../sealing/fs-errors.ts';
import { StatusError } from './errors.ts';
import { parseNodeStatus, type NodeStatus } from './node-status.ts';

export const STATUS_FILE = 'status.json';
export const MAX_STATUS_FILE_BYTES = 256 * 1024;

export async function writeStatusFile(stateDir: string, status: NodeStatus): Promise<void> {
  const path = join(stateDir, STATUS_FILE);
  try {
    // Display only and rewritten every few seconds: never half-written, but not fsynced (SD-card wear).
    await writeFileAtomic(path, JSON.stringify(status, null, 2) + '\n', { mode: 0o644, durable: false });
  } catch (cause) {
    throw new StatusError('ERR_STATUS_FILE', `status file not written: ${describeFsError(cause, path)}`, { path }, { cause });
  }
}

/** Reads status.json; null when no agent has written one. Throws on an unreadable or malformed file. */
export async function readStatusFile(stateDir: string): Promise<NodeStatus | null> {
  const path = join(stateDir, STATUS_FILE);
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_STATUS_FILE_BYTES) throw new StatusError('ERR_STATUS_FILE', `${path} is ${bytes.length} bytes, more than ${MAX_STATUS_FILE_BYTES}`, { path });
    text = bytes.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof StatusError) throw err;
    throw new StatusError('ERR_STATUS_FILE', `cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StatusError('ERR_STATUS_FILE', `${path} is not JSON`, { path });
  }
  try {
    return parseNodeStatus(value);
  } catch (err) {
    throw new StatusError('ERR_STATUS_FILE', `${path} is not an agent status (version 1): ${(err as Error).message}`, { path }, { cause: err });
  }
}
