// activation.json in the node's state dir: what the root node said about this node. Written
// before it is acted on (temp file, fsync, rename, fsync of the directory), so after a crash the
// file is either the old or the new version, never torn.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { join } from 'node:path';
import { describeFsError } from '../sealing/fs-errors.ts';
import { ActivationError } from './errors.ts';
import { NODE_ID } from '../protocol/registrar-api/index.ts';

export const ACTIVATION_FILE = 'activation.json';
export const ACTIVATION_FORMAT = 'btn-activation/v1';
const MAX_STATE_BYTES = 256 * 1024;

export interface ActivationState {
  readonly format: typeof ACTIVATION_FORMAT;
  readonly status: 'active' | 'revoked';
  readonly nodeId: string;
  /** The registration certificate, as the root node issued it. */
  readonly certificate: Record<string, unknown>;
  readonly rootUrl: string;
  /** ISO-8601 UTC */
  readonly activatedAt: string;
  /** Highest revocation list version accepted (a replayed older list is refused). */
  readonly revocationVersion: number;
  readonly revokedAt?: string;
  readonly revokedReason?: string;
}

const corrupt = (path: string, why: string): ActivationError =>
  new ActivationError('ERR_ACTIVATION_STATE', `${path} is not a valid activation state (${why}); move it away to activate again`);

export async function readActivationState(stateDir: string): Promise<ActivationState | null> {
  const path = join(stateDir, ACTIVATION_FILE);
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_STATE_BYTES) throw corrupt(path, `${buf.length} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof ActivationError) throw err;
    throw new ActivationError('ERR_ACTIVATION_STATE', `cannot read ${path}: ${(err as Error).message}`, {}, { cause: err });
  }
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw corrupt(path, 'not JSON');
  }
  if (d === null || typeof d !== 'object' || Array.isArray(d)) throw corrupt(path, 'not an object');
  if (d['format'] !== ACTIVATION_FORMAT) throw corrupt(path, `format is not "${ACTIVATION_FORMAT}"`);
  if (d['status'] !== 'active' && d['status'] !== 'revoked') throw corrupt(path, 'status must be "active" or "revoked"');
  if (typeof d['nodeId'] !== 'string' || !NODE_ID.test(d['nodeId'])) throw corrupt(path, 'nodeId must be 64 hex digits');
  if (d['certificate'] === null || typeof d['certificate'] !== 'object' || Array.isArray(d['certificate'])) throw corrupt(path, 'certificate is not an object');
  if (typeof d['rootUrl'] !== 'string' || typeof d['activatedAt'] !== 'string') throw corrupt(path, 'rootUrl and activatedAt must be strings');
  if (!Number.isSafeInteger(d['revocationVersion']) || (d['revocationVersion'] as number) < 0) throw corrupt(path, 'revocationVersion must be a non-negative integer');
  return d as unknown as ActivationState;
}

export async function writeActivationState(stateDir: string, state: ActivationState): Promise<void> {
  const path = join(stateDir, ACTIVATION_FILE);
  try {
    // Durable before it is acted on: a power cut never loses an activation or a revocation.
    await writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
  } catch (err) {
    throw new ActivationError('ERR_ACTIVATION_STATE', `cannot write ${path}: ${describeFsError(err, path)}`, {}, { cause: err });
  }
}
