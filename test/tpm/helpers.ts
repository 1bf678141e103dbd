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
  const swtpm = await startSwtpm({ caDir: join(dir, 'ca') });
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

/** A TCTI pointing at a loopback port that nothing listens on (the swtpm was never started there). */
export function closedPortTcti(port: number): string {
  return `swtpm:host=127.0.0.1,port=${port}`;
}
