// TpmConnection's rules: retries with backoff for TPM warnings, Startup after a reset,
// serialization, close. Against a real swtpm; retryable codes are injected by the task.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmConnection } from '../../tpm/connection.ts';
import { TpmError, TpmRcError } from '../../tpm/errors.ts';
import { openTpm } from '../../tpm/tpm.ts';
import { startFixture, tpm2, type SwtpmFixture } from './helpers.ts';

const execFileAsync = promisify(execFile);

describe('TpmConnection', () => {
  let fx: SwtpmFixture;

  beforeAll(async () => {
    fx = await startFixture();
  });

  afterAll(async () => {
    await fx?.destroy();
  });

  function connection(sleeps: number[], retryAttempts?: number): TpmConnection {
    return new TpmConnection({
      tcti: fx.swtpm.tcti,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...(retryAttempts === undefined ? {} : { retryAttempts }),
    });
  }

  it('RETRY, YIELDED and TESTING are retried with doubling backoff, then succeed', async () => {
    for (const rc of [0x922, 0x908, 0x90a]) {
      const sleeps: number[] = [];
      const conn = connection(sleeps);
      let calls = 0;
      const result = await conn.run('test', async () => {
        if (calls++ < 3) throw new TpmRcError(rc, 'Esys_Sign', 'busy');
        return 'done';
      });
      expect(result).toBe('done');
      expect(calls).toBe(4);
      expect(sleeps).toEqual([10, 20, 40]);
      await conn.close();
    }
  });

  it('gives up after retryAttempts with the TPM error, backoff capped at 1 s', async () => {
    const sleeps: number[] = [];
    const conn = connection(sleeps, 10);
    let calls = 0;
    const err = await conn.run('test', async () => {
      calls++;
      throw new TpmRcError(0x922, 'Esys_Sign', 'busy');
    }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TpmRcError);
    expect((err as TpmRcError).retryable).toBe(true);
    expect(calls).toBe(10);
    expect(sleeps).toEqual([10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    await conn.close();
  });

  it('does not retry errors that retrying cannot cure', async () => {
    for (const rc of [0x921 /* LOCKOUT */, 0x1c4 /* VALUE, parameter 1 */, 0x98e /* AUTH_FAIL, session 1 */]) {
      const sleeps: number[] = [];
      const conn = connection(sleeps);
      let calls = 0;
      await expect(conn.run('test', async () => {
        calls++;
        throw new TpmRcError(rc, 'Esys_Sign', 'no');
      })).rejects.toBeInstanceOf(TpmRcError);
      expect(calls).toBe(1);
      expect(sleeps).toEqual([]);
      await conn.close();
    }
  });

  it('errors that are not TPM codes pass through untouched', async () => {
    const conn = connection([]);
    const boom = new TypeError('boom');
    await expect(conn.run('test', async () => { throw boom; })).rejects.toBe(boom);
    await conn.close();
  });

  it('runs one task at a time, in order, even when they are issued together', async () => {
    const conn = connection([]);
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    await Promise.all(Array.from({ length: 10 }, (_, i) => conn.run('test', async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 2));
      order.push(i);
      running--;
    })));
    expect(maxRunning).toBe(1);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await conn.close();
  });

  it('after close, tasks are refused with ERR_TPM_CLOSED', async () => {
    const conn = connection([]);
    await conn.open();
    await conn.close();
    await expect(conn.run('test', async () => 1)).rejects.toMatchObject({ code: 'ERR_TPM_CLOSED' });
    expect(new TpmError('ERR_TPM_CLOSED', 'x').toObject()).toEqual({ name: 'TpmError', code: 'ERR_TPM_CLOSED', message: 'x' });
  });

  it('a TPM reset without TPM2_Startup (swtpm_ioctl -i): the binding runs Startup(CLEAR) and carries on', async () => {
    const tpm = await openTpm({ tcti: fx.swtpm.tcti });
    try {
      const key = await tpm.ensureSealingKey();
      await execFileAsync('swtpm_ioctl', ['--tcp', `127.0.0.1:${fx.swtpm.ctrlPort}`, '-i']);
      // tpm2-tools do not start the TPM up: they see TPM_RC_INITIALIZE.
      await expect(tpm2('tpm2_getcap', ['-T', fx.swtpm.tcti, 'handles-persistent'])).rejects.toThrow(/0x100|TPM2_Startup/);
      const message = new Uint8Array([1, 2, 3]);
      const signature = await tpm.sign(message);
      const { verify } = await import('node:crypto');
      expect(verify('sha256', message, key.publicKeyPem, signature)).toBe(true);
      expect(await tpm2('tpm2_getcap', ['-T', fx.swtpm.tcti, 'handles-persistent'])).toContain('0x81000B70');
    } finally {
      await tpm.close();
    }
  });
});
