// Failure behaviour of the binding: unreachable TPM, TPM killed and restarted, bad arguments,
// event loop, serialization of concurrent calls.
import { createHash, verify } from 'node:crypto';
import { createServer } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTpm, Tpm, type SealingKeyInfo } from '../../tpm/tpm.ts';
import { TpmError } from '../../tpm/errors.ts';
import { getcapHandles, startFixture, type SwtpmFixture } from './helpers.ts';

const sha256 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** The error a call produces, whether it throws synchronously or rejects. */
async function errorOf(call: () => unknown): Promise<TpmError> {
  try {
    await call();
  } catch (err) {
    expect(err).toBeInstanceOf(TpmError);
    return err as TpmError;
  }
  throw new Error('expected the call to fail');
}

describe('unreachable TPM', () => {
  it('a TCTI to a closed port gives one clear ERR_TPM_UNREACHABLE naming the TCTI', async () => {
    const tcti = `swtpm:host=127.0.0.1,port=${await closedPort()}`;
    const started = performance.now();
    const err = await errorOf(() => openTpm({ tcti }));
    expect(performance.now() - started).toBeLessThan(10_000); // hang guard, not a performance figure
    expect(err.code).toBe('ERR_TPM_UNREACHABLE');
    expect(err.message).toContain(`"${tcti}"`);
  });

  it('a device TCTI to a missing device and an mssim TCTI to a closed port say the same', async () => {
    for (const tcti of ['device:/dev/btn-no-such-tpm', `mssim:host=127.0.0.1,port=${await closedPort()}`]) {
      const err = await errorOf(() => openTpm({ tcti }));
      expect(err.code).toBe('ERR_TPM_UNREACHABLE');
      expect(err.message).toContain(tcti);
    }
  });

  it('a port that accepts connections but never answers times out with ERR_TPM_UNREACHABLE', async () => {
    const sockets: import('node:net').Socket[] = [];
    const command = createServer((s) => sockets.push(s));
    await new Promise<void>((done) => command.listen(0, '127.0.0.1', done));
    const port = (command.address() as { port: number }).port;
    const control = createServer((s) => sockets.push(s));
    const listening = await new Promise<boolean>((done) => {
      control.once('error', () => done(false));
      control.listen(port + 1, '127.0.0.1', () => done(true));
    });
    try {
      if (!listening) return; // port + 1 taken by someone else: nothing to learn this time
      const tcti = `swtpm:host=127.0.0.1,port=${port}`;
      const started = performance.now();
      const err = await errorOf(() => openTpm({ tcti, connectTimeoutMs: 1000 }));
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(err.code).toBe('ERR_TPM_UNREACHABLE');
      expect(err.message).toContain(tcti);
    } finally {
      for (const s of sockets) s.destroy();
      command.close();
      control.close();
    }
  });
});

describe('arguments are refused before they reach the TPM', () => {
  // A context whose TCTI leads nowhere: anything that reached the TPM would be ERR_TPM_UNREACHABLE.
  let offline: Tpm;

  beforeAll(async () => {
    offline = new Tpm({ tcti: `swtpm:host=127.0.0.1,port=${await closedPort()}`, connectTimeoutMs: 500 });
  });

  it('lottery key: a message that is not exactly 36 bytes, or not bytes', async () => {
    const lottery = offline.lotteryKey();
    for (const message of [new Uint8Array(0), new Uint8Array(32), new Uint8Array(35), new Uint8Array(37), new Uint8Array(64), 'a'.repeat(36), [...new Uint8Array(36)], null]) {
      const err = await errorOf(() => lottery.sign(message as Uint8Array));
      expect(err.code).toBe('ERR_TPM_ARGUMENT');
      expect(err.message).toMatch(/a lottery message is 36 bytes/);
    }
  });

  it('general sign: a lottery-shaped (36-byte) message', async () => {
    const err = await errorOf(() => offline.sign(new Uint8Array(36)));
    expect(err.code).toBe('ERR_TPM_ARGUMENT');
    expect(err.message).toMatch(/lottery-shaped/);
  });

  it('message too long (more than 64 KiB) or not bytes', async () => {
    for (const message of [new Uint8Array(64 * 1024 + 1), 'hello', undefined]) {
      for (const call of [() => offline.sign(message as Uint8Array)]) {
        const err = await errorOf(call);
        expect(err.code).toBe('ERR_TPM_ARGUMENT');
        expect(err.message).toMatch(/at most 65536 bytes/);
      }
    }
  });

  it('malformed TCTI strings', async () => {
    const bad = ['foo:bar', 'swtpm:port=70000', 'swtpm:port=abc', 'swtpm:host=127.0.0.1\n,port=2321', `swtpm:host=${'h'.repeat(300)}`, '', 'device:tpmrm0'];
    for (const tcti of bad) {
      expect((await errorOf(() => openTpm({ tcti }))).code, tcti).toBe('ERR_TPM_ARGUMENT');
      expect((await errorOf(() => new Tpm({ tcti }))).code, tcti).toBe('ERR_TPM_ARGUMENT');
    }
  });

  it('EK certificate index other than the TCG RSA/ECC ones', async () => {
    expect((await errorOf(() => offline.readEkCertificate(0x01c00003))).code).toBe('ERR_TPM_ARGUMENT');
  });

  it('argument errors reject the returned promise instead of throwing synchronously (promise-based API)', async () => {
    // Callers write `tpm.sign(m).catch(...)`; a synchronous throw escapes that handler.
    const lottery = new Tpm({ tcti: offline.tcti, connectTimeoutMs: 500 }).lotteryKey();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['lotteryKey().sign', () => lottery.sign(new Uint8Array(31))],
      ['sign', () => offline.sign(new Uint8Array(64 * 1024 + 1))],
      ['sign (lottery-shaped)', () => offline.sign(new Uint8Array(36))],
      ['sign (handle)', () => offline.sign(new Uint8Array(1), { handle: 0x81010001 })],
      ['sealingKey', () => offline.sealingKey({ handle: 0x81010001 })],
      ['ensureSealingKey', () => offline.ensureSealingKey({ handle: 0x81010001 })],
      ['activateCredential', () => offline.activateCredential({ credentialBlob: new Uint8Array(0), secret: new Uint8Array(0) })],
      ['readEkCertificate', () => offline.readEkCertificate(1)],
    ];
    const syncThrows: string[] = [];
    for (const [name, call] of calls) {
      let promise: Promise<unknown> | undefined;
      try {
        promise = call();
      } catch {
        syncThrows.push(name);
        continue;
      }
      await expect(promise).rejects.toMatchObject({ code: 'ERR_TPM_ARGUMENT' });
    }
    expect(syncThrows).toEqual([]);
  });
});

describe('on a live swtpm', () => {
  let fx: SwtpmFixture;
  let tpm: Tpm;
  let key: SealingKeyInfo;

  beforeAll(async () => {
    fx = await startFixture();
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
    key = await tpm.ensureSealingKey();
  });

  afterAll(async () => {
    await tpm?.close();
    await fx?.destroy();
  });

  it('the event loop keeps running during signatures', async () => {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    histogram.enable();
    try {
      // Issued all at once: were the TPM calls synchronous, the queue would run them back to
      // back in microtasks and no timer could fire until all 100 were done.
      const messages = Array.from({ length: 100 }, (_, i) => sha256(new Uint8Array([i])));
      const started = performance.now();
      const signatures = await Promise.all(messages.map((m) => tpm.sign(m)));
      const elapsed = performance.now() - started;
      expect(signatures).toHaveLength(100);
      expect(ticks).toBeGreaterThan(0);
      // Timer ticks are coarse; at least one per 5 ms would be ideal, a tenth of that is plenty of proof.
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 50));
    } finally {
      histogram.disable();
      clearInterval(timer);
    }
    expect(histogram.max / 1e6).toBeLessThan(200);
  });

  it('20 concurrent signatures all succeed and equal the sequential ones (serialized on one context)', async () => {
    const messages = Array.from({ length: 20 }, (_, i) => new TextEncoder().encode(`concurrent ${i}`));
    const concurrent = await Promise.all(messages.map((m) => tpm.sign(m)));
    for (const [i, m] of messages.entries()) {
      expect(verify('sha256', m, key.publicKeyPem, concurrent[i]!), `signature ${i}`).toBe(true);
      expect(hex(await tpm.sign(m))).toBe(hex(concurrent[i]!));
    }
  });

  it('concurrent calls of different kinds interleave safely, failures do not poison the queue', async () => {
    const results = await Promise.allSettled([
      tpm.info(),
      tpm.sign(new Uint8Array([1])),
      tpm.sealingKey({ handle: 0x81000bee }),
      tpm.readEkCertificate(),
      tpm.sign(new Uint8Array(32), { handle: 0x81000bee }), // no key there: ERR_TPM_KEY_MISMATCH
      tpm.sign(new Uint8Array([2])),
      tpm.handles(),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[4] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_TPM_KEY_MISMATCH' });
    expect((results[6] as PromiseFulfilledResult<number[]>).value).toEqual([]);
  });

  it('swtpm killed and started again: the next call on the same Tpm succeeds without reopening', async () => {
    const message = new TextEncoder().encode('before the power cut');
    const before = await tpm.sign(message);
    await fx.swtpm.kill();
    await fx.swtpm.restart();
    expect(hex(await tpm.sign(message))).toBe(hex(before));
    expect((await tpm.sealingKey())?.name).toBe(key.name);
  });

  it('while swtpm is down calls fail with ERR_TPM_UNREACHABLE naming the TCTI; after restart they succeed', async () => {
    const message = new TextEncoder().encode('during the outage');
    const before = await tpm.sign(message);
    await fx.swtpm.kill();
    const started = performance.now();
    const err = await errorOf(() => tpm.sign(message));
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(err.code).toBe('ERR_TPM_UNREACHABLE');
    expect(err.message).toContain(fx.swtpm.tcti);
    expect((await errorOf(() => tpm.info())).code).toBe('ERR_TPM_UNREACHABLE');
    await fx.swtpm.restart();
    expect(hex(await tpm.sign(message))).toBe(hex(before));
  });

  it('graceful stop (TPM2_Shutdown) and restart: the next call succeeds', async () => {
    const message = new TextEncoder().encode('graceful');
    const before = await tpm.sign(message);
    await fx.swtpm.stop();
    await fx.swtpm.restart();
    expect(hex(await tpm.sign(message))).toBe(hex(before));
  });

  it('an encrypted signing session is started again after swtpm restarts', async () => {
    // swtpm's TCTI opens a socket per command, so no IO error announces the restart: the TPM
    // simply no longer knows the cached session (TPM_RC_REFERENCE_S0, 0x918).
    const encrypted = await openTpm({ tcti: fx.swtpm.tcti, signSession: 'encrypted' });
    try {
      const message = new TextEncoder().encode('encrypted session');
      const before = await encrypted.sign(message);
      expect(hex(before)).toBe(hex(await tpm.sign(message)));
      await fx.swtpm.stop();
      await fx.swtpm.restart();
      expect(hex(await encrypted.sign(message))).toBe(hex(before));
      await fx.swtpm.kill();
      await fx.swtpm.restart();
      expect(hex(await encrypted.sign(message))).toBe(hex(before));
    } finally {
      await encrypted.close();
    }
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-loaded-session')).toEqual([]);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
  });

  it('a TPM that stops answering mid-command: the call fails after commandTimeoutMs instead of hanging', async () => {
    const t = await openTpm({ tcti: fx.swtpm.tcti, commandTimeoutMs: 1000 });
    await t.sealingKey();
    const pid = fx.swtpm.pid()!;
    process.kill(pid, 'SIGSTOP'); // the emulator freezes: connections are accepted, nothing answers
    let resumed = false;
    const resume = setTimeout(() => {
      resumed = true;
      process.kill(pid, 'SIGCONT');
    }, 12_000);
    try {
      const outcome = await t.sign(new Uint8Array([9])).then(() => 'resolved', (e: unknown) => e);
      // Settled while the TPM was still frozen, and as an error naming the TCTI.
      expect(resumed).toBe(false);
      expect(outcome).toBeInstanceOf(TpmError);
      expect((outcome as TpmError).message).toContain(fx.swtpm.tcti);
    } finally {
      clearTimeout(resume);
      process.kill(pid, 'SIGCONT');
      await t.close();
    }
  });

  it('a closed Tpm refuses further calls with ERR_TPM_CLOSED', async () => {
    const t = await openTpm({ tcti: fx.swtpm.tcti });
    await t.close();
    expect((await errorOf(() => t.sign(new Uint8Array([1])))).code).toBe('ERR_TPM_CLOSED');
  });
});
