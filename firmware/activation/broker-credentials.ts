// broker-credentials.json in the node's state dir: the broker identity its TPM released at
// activation (firmware/protocol/broker-credential.ts). Mode 0600 in a 0700 directory, written
// durably before it is used, read with a size cap and a reader; the password is never logged.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { JsonError, literal, object, parseJson, string } from '../core/json.ts';
import { describeFsError } from '../sealing/fs-errors.ts';
import { ActivationError } from './errors.ts';

export const BROKER_CREDENTIALS_FILE = 'broker-credentials.json';
const FORMAT = 'btn-broker-credentials/v1';
const MAX_BYTES = 4096;

export interface BrokerCredentials {
  readonly username: string;
  readonly password: string;
}

const reader = object({
  format: literal(FORMAT),
  username: string({ min: 1, max: 128, pattern: /^[0-9a-f]+$/ }),
  password: string({ min: 16, max: 256, pattern: /^[A-Za-z0-9_-]+$/ }),
});

/** null when the node has none (not activated, or its root does not manage the broker). */
export async function readBrokerCredentials(stateDir: string): Promise<BrokerCredentials | null> {
  const path = join(stateDir, BROKER_CREDENTIALS_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ActivationError('ERR_ACTIVATION_STATE', `cannot read ${path}: ${(err as Error).message}`, {}, { cause: err });
  }
  try {
    const c = reader.read(parseJson(bytes, MAX_BYTES, path), 'broker credentials');
    return { username: c.username, password: c.password };
  } catch (err) {
    const why = err instanceof JsonError ? err.message : String(err);
    throw new ActivationError('ERR_ACTIVATION_STATE', `${path} is not valid (${why}); activate again to get new broker credentials`);
  }
}

export async function writeBrokerCredentials(stateDir: string, c: BrokerCredentials): Promise<void> {
  const path = join(stateDir, BROKER_CREDENTIALS_FILE);
  try {
    await writeFileAtomic(path, `${JSON.stringify({ format: FORMAT, username: c.username, password: c.password })}\n`, { mode: 0o600, dirMode: 0o700 });
  } catch (err) {
    throw new ActivationError('ERR_ACTIVATION_STATE', `cannot write ${path}: ${describeFsError(err, path)}`, {}, { cause: err });
  }
}
