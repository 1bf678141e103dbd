import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function hashOf(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

export function sigOf(label: string, bytes = 256): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 32) out.set(hashOf(`${label}/${i}`).subarray(0, Math.min(32, bytes - i)), i);
  return out;
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'btn-sealing-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const CLERK = 'a'.repeat(64);
export const CLERK2 = 'b'.repeat(64);

/** A seal counter in memory, for unit tests of the journal logic (the TPM's is tested on swtpm). */
export class FakeCounter {
  readonly name = 'fake counter';
  value: number | null = null;
  increments = 0;
  /** Makes the next increment count on the "TPM" and then fail, as a lost response would. */
  failNext = false;

  async read(): Promise<number | null> {
    return this.value;
  }

  async increment(): Promise<number> {
    this.value = (this.value ?? 100) + 1; // a fresh TPM counter starts wherever the TPM's highest count was
    this.increments++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('TPM did not answer');
    }
    return this.value;
  }
}
