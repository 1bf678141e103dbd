// The seal counter (an NV counter index) against a real swtpm, cross-checked with tpm2-tools:
// defined once, idempotent, the counter attribute as tpm2_nvreadpublic shows it, and counts
// that tpm2_nvread and tpm2_nvincrement agree with.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTpm, type Tpm } from '../../tpm/tpm.ts';
import { HANDLE, TPMA_NV } from '../../tpm/constants.ts';
import { TpmError } from '../../tpm/errors.ts';
import { startFixture, tpm2, type SwtpmFixture } from './helpers.ts';

const INDEX = '0x1000b70';

async function codeOf(p: () => Promise<unknown>): Promise<string> {
  try {
    await p();
  } catch (err) {
    expect(err).toBeInstanceOf(TpmError);
    return (err as TpmError).code;
  }
  throw new Error('expected a TpmError');
}

/** tpm2_nvread of the 8-byte count, big-endian, as a number. */
async function nvread(fx: SwtpmFixture): Promise<number> {
  await tpm2('tpm2_nvread', ['-T', fx.swtpm.tcti, '-s', '8', '-o', 'count.bin', INDEX], { cwd: fx.dir });
  return Number(Buffer.from(await readFile(join(fx.dir, 'count.bin'))).readBigUInt64BE(0));
}

describe('seal counter (NV counter index) on swtpm', () => {
  let fx: SwtpmFixture;
  let tpm: Tpm;

  beforeAll(async () => {
    fx = await startFixture();
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
  });

  afterAll(async () => {
    await tpm?.close();
    await fx?.destroy();
  });

  it('is absent before init, then defined unwritten at 0x01000B70; tpm2_nvreadpublic shows a counter with our attributes', async () => {
    expect(await tpm.nvCounter()).toBeNull();
    const made = await tpm.ensureNvCounter();
    expect(made).toMatchObject({ index: HANDLE.NV_SEAL_COUNTER_DEFAULT, written: false, value: null });
    const yaml = await tpm2('tpm2_nvreadpublic', ['-T', fx.swtpm.tcti, INDEX]);
    expect(yaml).toMatch(/0x1000b70:/i);
    expect(yaml).toMatch(/friendly: .*nt=0x1/); // TPM_NT_COUNTER
    for (const a of ['ownerwrite', 'ownerread', 'authread', 'no_da']) expect(yaml, a).toContain(a);
    expect(yaml).not.toContain('orderly');
    expect(yaml).toMatch(/size: 8/);
  });

  it('is idempotent: a second init keeps the index and its count', async () => {
    const first = await tpm.incrementNvCounter();
    const again = await tpm.ensureNvCounter();
    expect(again).toMatchObject({ written: true, value: first });
    expect((again.attributes & TPMA_NV.WRITTEN) !== 0).toBe(true);
  });

  it('counts by one per increment, and tpm2_nvread and tpm2_nvincrement agree with the binding', async () => {
    const a = await tpm.incrementNvCounter();
    expect(await nvread(fx)).toBe(a);
    const b = await tpm.incrementNvCounter();
    expect(b).toBe(a + 1);
    await tpm2('tpm2_nvincrement', ['-T', fx.swtpm.tcti, '-C', 'o', INDEX]);
    expect((await tpm.nvCounter())?.value).toBe(b + 1);
    expect(await nvread(fx)).toBe(b + 1);
    // The value after an increment is read back, so another writer's increment is not hidden.
    expect(await tpm.incrementNvCounter()).toBe(b + 2);
  });

  it('refuses an index outside the owner NV range, and one that holds something other than a counter', async () => {
    for (const index of [0x01c00002, 0x01400000, 0x81000b70, -1]) {
      expect(await codeOf(() => tpm.ensureNvCounter({ index })), `index ${index}`).toBe('ERR_TPM_ARGUMENT');
    }
    await tpm2('tpm2_nvdefine', ['-T', fx.swtpm.tcti, '-C', 'o', '-s', '8', '-a', 'ownerread|ownerwrite|authread', '0x1000b71']);
    expect(await codeOf(() => tpm.ensureNvCounter({ index: 0x01000b71 }))).toBe('ERR_TPM_NV_MISMATCH');
    expect(await codeOf(() => tpm.incrementNvCounter({ index: 0x01000b71 }))).toBe('ERR_TPM_NV_MISMATCH');
    expect(await codeOf(() => tpm.incrementNvCounter({ index: 0x01000b72 }))).toBe('ERR_TPM_NV_MISMATCH');
  });

  it('a TPM cleared by its owner loses the counter with the sealing key; init defines it again', async () => {
    await tpm2('tpm2_clear', ['-T', fx.swtpm.tcti, '-c', 'p']);
    expect(await tpm.nvCounter()).toBeNull();
    expect(await tpm.ensureNvCounter()).toMatchObject({ written: false, value: null });
  });
});
