// Shared fixtures for the TPM tests: a private swtpm per suite (own CA directory, own state),
// tpm2-tools run against it, and a scratch directory, all removed in afterAll.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSwtpm, type SwtpmInstance } from '../../tpm/swtpm.ts';

const execFileAsync = promisify(execFile);

export interface SwtpmFixture {
  readonly swtpm: SwtpmInstance;
  /** Scratch directory for tool input/output files. */
  readonly dir: string;
  /** Stop the emulator and delete its state, the CA and the scratch directory. */
  destroy(): Promise<void>;
}

export async function startFixture(): Promise<SwtpmFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'btn-tpm-test-'));
  let swtpm: SwtpmInstance;
  try {
    swtpm = await startSwtpm({ caDir: join(dir, 'ca') });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    swtpm,
    dir,
    destroy: async () => {
      await swtpm.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Run a tpm2-tools command; tpm2-tss's own logging is silenced, failures reject with stderr. */
export async function tpm2(tool: string, args: readonly string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(tool, [...args], {
      cwd: options.cwd,
      env: { ...process.env, TSS2_LOG: 'all+NONE' },
      timeout: 30_000,
      maxBuffer: 4 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** Handles listed by `tpm2_getcap <capability>` (YAML list "- 0x80000000"). */
export async function getcapHandles(tcti: string, capability: 'handles-transient' | 'handles-loaded-session' | 'handles-persistent' | 'handles-saved-session'): Promise<string[]> {
  const out = await tpm2('tpm2_getcap', ['-T', tcti, capability]);
  return out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('- ')).map((l) => l.slice(2).toUpperCase().replace(/^0X/, '0x'));
}

/**
 * tpm2-tools' credential file (tpm2_makecredential -o): u32 magic 0xBADCC0DE, u32 version 1,
 * TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET, all big-endian. Returns both TPM2B with their size.
 */
export function parseCredentialFile(file: Uint8Array): { credentialBlob: Uint8Array; secret: Uint8Array } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < 12) throw new Error(`credential file of ${file.length} bytes is too short`);
  const magic = view.getUint32(0, false);
  const version = view.getUint32(4, false);
  if (magic !== 0xbadcc0de || version !== 1) throw new Error(`credential file: magic 0x${magic.toString(16)} version ${version}, expected 0xbadcc0de version 1`);
  let offset = 8;
  const tpm2b = (field: string): Uint8Array => {
    if (offset + 2 > file.length) throw new Error(`credential file: ${field} truncated`);
    const size = view.getUint16(offset, false);
    if (offset + 2 + size > file.length) throw new Error(`credential file: ${field} truncated`);
    const out = file.slice(offset, offset + 2 + size);
    offset += 2 + size;
    return out;
  };
  const credentialBlob = tpm2b('TPM2B_ID_OBJECT');
  const secret = tpm2b('TPM2B_ENCRYPTED_SECRET');
  if (offset !== file.length) throw new Error(`credential file: ${file.length - offset} trailing bytes`);
  return { credentialBlob, secret };
}

/** tpm2_makecredential (offline, -T none) for `name` under the EK public area in `ekPubFile`. */
export async function makeCredential(dir: string, ekPubFile: string, name: string, secret: Uint8Array, out: string): Promise<{ credentialBlob: Uint8Array; secret: Uint8Array }> {
  const { readFile, writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, `${out}.secret`), secret);
  await tpm2('tpm2_makecredential', ['-T', 'none', '-e', ekPubFile, '-s', `${out}.secret`, '-n', name, '-o', out], { cwd: dir });
  return parseCredentialFile(new Uint8Array(await readFile(join(dir, out))));
}
