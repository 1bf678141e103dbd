// activation.json in the node's state dir: what the root node said about this node. Written
// before it is acted on (temp file, fsync, rename, fsync of the directory), so after a crash the
// file is either the old or the new version, never torn.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { join } from 'node:path';
import { describeFsError } from '../sealing/fs-errors.ts';
import { ActivationError } from './errors.ts';
import { anyObject, hexText, integer, literal, object, oneOf, optional, readWith, string } from '../core/json.ts';

export const ACTIVATION_FILE = 'activation.json';
export const ACTIVATION_FORMAT = 'btn-activation/v1';
const MAX_STATE_BYTES = 256 * 1024;

export interface ActivationState {
  readonly format: typeof ACTIVATION_FORMAT;
  readonly status: 'active' | 'revoked';
  readonly nodeId: string;
  /** The registration certificate, as the root node issued it. */
  readonly certificate: Readonly<Record<string, unknown>>;
  readonly rootUrl: string;
  /** ISO-8601 UTC */
  readonly activatedAt: string;
  /** Highest revocation list version accepted (a replayed older list is refused). */
  readonly revocationVersion: number;
  readonly revokedAt?: string;
  readonly revokedReason?: string;
}

// Written only by writeActivationState: exact keys, as written.
const time = string({ min: 1, max: 64 });
const stateReader = object({
  format: literal(ACTIVATION_FORMAT),
  status: oneOf(['active', 'revoked']),
  nodeId: hexText({ bytes: 32, lowercase: true }),
  // Verified again by whoever trusts it; here only kept.
  certificate: anyObject({ maxKeys: 32 }),
  rootUrl: string({ min: 1, max: 2048 }),
  activatedAt: time,
  revocationVersion: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  revokedAt: optional(time),
  revokedReason: optional(string({ max: 1024 })),
});

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
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt(path, 'not JSON');
  }
  return readWith(stateReader, doc, 'activation', (err) => corrupt(path, err.message));
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
