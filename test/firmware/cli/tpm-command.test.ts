// `btn-node tpm info|init|selftest` as a user runs it: a child process per call, JSON on stdout.
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixture, tpm2, type SwtpmFixture } from '../../tpm/helpers.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(ROOT, 'firmware', 'bin', 'btn-node.js');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function btnNode(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env };
  delete base['BTN_TCTI'];
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

async function ok(args: readonly string[], env?: Record<string, string>): Promise<Record<string, unknown>> {
  const run = await btnNode(args, env);
  expect(run.stderr, `stderr of ${args.join(' ')}`).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** A failed run: non-zero exit, nothing on stdout, one clear line (no stack trace) on stderr. */
async function fails(args: readonly string[], pattern: RegExp, env?: Record<string, string>): Promise<Run> {
  const run = await btnNode(args, env);
  expect(run.code, `exit code of ${args.join(' ')}: ${run.stderr}`).not.toBe(0);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^btn-node: /);
  expect(run.stderr).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  return run;
}

function expectInfoShape(info: Record<string, unknown>): void {
  // The fields of `btn-node tpm info` (README "Commands"), plus the vendor string the binding adds.
  expect(Object.keys(info).sort()).toEqual(['ek', 'firmwareVersion', 'manufacturer', 'sealCounter', 'sealingKey', 'vendor']);
  const counter = info['sealCounter'];
  if (counter !== null) {
    expect(Object.keys(counter as object).sort()).toEqual(['index', 'value']);
    expect((counter as { index: string }).index).toBe('0x01000B70');
  }
  expect(typeof info['manufacturer']).toBe('string');
  expect(info['firmwareVersion']).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  const ek = info['ek'] as Record<string, unknown>;
  expect(Object.keys(ek).sort()).toEqual(['certificatePem', 'publicKeyPem']);
  expect(ek['publicKeyPem']).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
  expect(ek['certificatePem']).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
  const key = info['sealingKey'];
  if (key !== null) {
    expect(Object.keys(key as object).sort()).toEqual(['handle', 'name', 'publicKeyPem']);
    const k = key as Record<string, string>;
    expect(k['handle']).toMatch(/^0x81[0-9A-F]{6}$/);
    expect(k['name']).toMatch(/^000b[0-9a-f]{64}$/);
    expect(k['publicKeyPem']).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  }
}

describe('btn-node tpm', () => {
  let fx: SwtpmFixture;
  let tcti: string;
  let offline: string;

  beforeAll(async () => {
    fx = await startFixture();
    tcti = fx.swtpm.tcti;
    // The control port of our own swtpm is not a command port; a closed port is more honest.
    offline = 'swtpm:host=127.0.0.1,port=9';
  });

  afterAll(async () => {
    await fx?.destroy();
  });

  it('info before init: sealingKey null; EK matches tpm2_readpublic and its certificate', async () => {
    const info = await ok(['tpm', 'info', '--tcti', tcti]);
    expectInfoShape(info);
    expect(info['sealingKey']).toBeNull();
    expect(info['sealCounter']).toBeNull();
    expect(info['manufacturer']).toBe('IBM');
    await tpm2('tpm2_readpublic', ['-T', tcti, '-c', '0x81010001', '-f', 'pem', '-o', 'ek.pem'], { cwd: fx.dir });
    const ek = info['ek'] as { publicKeyPem: string; certificatePem: string };
    expect(ek.publicKeyPem.trim()).toBe((await readFile(join(fx.dir, 'ek.pem'), 'utf8')).trim());
    expect(new X509Certificate(ek.certificatePem).publicKey.export({ type: 'spki', format: 'pem' })).toBe(ek.publicKeyPem);
  });

  it('init creates the sealing key at 0x81000B70, prints the info JSON, and is idempotent', async () => {
    const first = await ok(['tpm', 'init', '--tcti', tcti]);
    expectInfoShape(first);
    const key = first['sealingKey'] as { handle: string; publicKeyPem: string; name: string };
    expect(key.handle).toBe('0x81000B70');
    const out = await tpm2('tpm2_readpublic', ['-T', tcti, '-c', '0x81000B70', '-f', 'pem', '-o', 'seal.pem'], { cwd: fx.dir });
    expect(out).toContain(`name: ${key.name}`);
    expect(key.publicKeyPem.trim()).toBe((await readFile(join(fx.dir, 'seal.pem'), 'utf8')).trim());
    // The seal counter beside it: defined, never incremented yet (docs/keys.md).
    expect(first['sealCounter']).toEqual({ index: '0x01000B70', value: null });
    expect(await tpm2('tpm2_nvreadpublic', ['-T', tcti, '0x1000b70'])).toMatch(/nt=0x1/);
    const second = await ok(['tpm', 'init', '--tcti', tcti]);
    expect(second).toEqual(first);
    expect(await ok(['tpm', 'info', '--tcti', tcti])).toEqual(first);
  });

  it('selftest signs a fresh non-lottery message with the sealing key and verifies it; tpm2_sign makes the same bytes', async () => {
    const info = await ok(['tpm', 'info', '--tcti', tcti]);
    const pem = (info['sealingKey'] as { publicKeyPem: string }).publicKeyPem;
    const t = await ok(['tpm', 'selftest', '--tcti', tcti]);
    expect(Object.keys(t).sort()).toEqual(['message', 'signMs', 'signature', 'verified']);
    expect(t['verified']).toBe(true);
    const message = Buffer.from(t['message'] as string, 'hex');
    // 38 bytes: never the 36 bytes (hash || round) of a lottery message.
    expect(message.length).toBe(38);
    expect(message.subarray(0, 21).toString()).toBe('btn-node tpm selftest');
    const signature = Buffer.from(t['signature'] as string, 'hex');
    expect(verify('sha256', message, pem, signature)).toBe(true);
    await writeFile(join(fx.dir, 'msg.bin'), message);
    await tpm2('tpm2_sign', ['-T', tcti, '-c', '0x81000B70', '-g', 'sha256', '-s', 'rsassa', '-f', 'plain', '-o', 'sig.bin', 'msg.bin'], { cwd: fx.dir });
    expect((await readFile(join(fx.dir, 'sig.bin'))).toString('hex')).toBe(t['signature']);
    // A fresh message every time.
    expect((await ok(['tpm', 'selftest', '--tcti', tcti]))['message']).not.toBe(t['message']);
  });

  it('no command signs a message of the caller\'s choosing: ticket and --message are gone', async () => {
    const messageHex = createHash('sha256').update('block').digest('hex') + '00000003';
    const runs = await Promise.all([
      fails(['tpm', 'ticket', '--tcti', tcti, '--message', messageHex], /usage:/),
      fails(['tpm', 'selftest', '--tcti', tcti, '--message', messageHex], /Unknown option '--message'/),
    ]);
    for (const run of runs) expect(run.code).toBe(2);
  });

  it('--handle selects another sealing key for init, info and selftest', async () => {
    const init = await ok(['tpm', 'init', '--tcti', tcti, '--handle', '0x81000B71']);
    const key = init['sealingKey'] as { handle: string; publicKeyPem: string; name: string };
    expect(key.handle).toBe('0x81000B71');
    const info = await ok(['tpm', 'info', '--tcti', tcti, '--handle', '0x81000b71']);
    expect(info['sealingKey']).toEqual(key);
    const t = await ok(['tpm', 'selftest', '--tcti', tcti, '--handle', '0x81000B71']);
    expect(verify('sha256', Buffer.from(t['message'] as string, 'hex'), key.publicKeyPem, Buffer.from(t['signature'] as string, 'hex'))).toBe(true);
  });

  it('--tcti defaults to $BTN_TCTI, and --tcti wins over it', async () => {
    const viaEnv = await ok(['tpm', 'info'], { BTN_TCTI: tcti });
    expect((viaEnv['sealingKey'] as { handle: string }).handle).toBe('0x81000B70');
    expect(await ok(['tpm', 'info', '--tcti', tcti], { BTN_TCTI: offline })).toEqual(viaEnv);
    const viaBadEnv = await fails(['tpm', 'info'], /ERR_TPM_UNREACHABLE/, { BTN_TCTI: offline });
    expect(viaBadEnv.stderr).toContain(`"${offline}"`);
  });

  it('usage errors exit 2 with the usage text', async () => {
    const runs = await Promise.all([
      fails(['tpm'], /usage:/),
      fails(['tpm', 'sign', '--tcti', tcti], /usage:/),
      fails(['tpm', 'info', '--bogus'], /Unknown option '--bogus'/),
      fails(['tpm', 'ticket', '--tcti', tcti], /usage:/),
      fails(['tpm', 'info', 'extra'], /positional|unexpected/i),
    ]);
    for (const run of runs) expect(run.code).toBe(2);
  });

  it('bad arguments are refused before the TPM with a clear message and exit 1', async () => {
    // The TCTI leads nowhere: reaching the TPM would say ERR_TPM_UNREACHABLE instead.
    const runs = await Promise.all([
      fails(['tpm', 'init', '--tcti', offline, '--handle', '0x81010001'], /reserved for endorsement keys.*\[ERR_TPM_ARGUMENT\]/),
      fails(['tpm', 'init', '--tcti', offline, '--handle', '0x80000001'], /outside the owner persistent range.*\[ERR_TPM_ARGUMENT\]/),
      fails(['tpm', 'info', '--tcti', offline, '--handle', '0x81800000'], /outside the owner persistent range.*\[ERR_TPM_ARGUMENT\]/),
      fails(['tpm', 'init', '--tcti', offline, '--handle', 'garbage'], /"garbage" is not a hex.*\[ERR_TPM_ARGUMENT\]/),
      fails(['tpm', 'info', '--tcti', 'foo:bar'], /unknown kind "foo".*\[ERR_TPM_ARGUMENT\]/),
      fails(['tpm', 'info', '--tcti', 'swtpm:port=70000'], /port must be 1\.\.65534.*\[ERR_TPM_ARGUMENT\]/),
      fails(['tpm', 'info', '--tcti', 'swtpm:host=a\u0007b'], /control characters.*\[ERR_TPM_ARGUMENT\]/),
    ]);
    for (const run of runs) expect(run.code).toBe(1);
  });

  it('an argument longer than the CLI accepts is refused before the TPM', async () => {
    // Every argv string is capped at 4096 characters (firmware/core/cli-args.ts).
    const run = await fails(['tpm', 'info', '--tcti', offline, '--handle', '0'.repeat(4097)], /longer than 4096/);
    expect(run.code).toBe(2);
  });

  it('an unreachable TPM gives one clear error naming the TCTI, exit 1', async () => {
    const run = await fails(['tpm', 'info', '--tcti', offline], /ERR_TPM_UNREACHABLE/);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`"${offline}"`);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('selftest on a handle without a key says to run init', async () => {
    const run = await fails(['tpm', 'selftest', '--tcti', tcti, '--handle', '0x81000BEE'], /no sealing key at 0x81000BEE.*tpm init.*\[ERR_TPM_KEY_MISMATCH\]/);
    expect(run.code).toBe(1);
  });

  // Last: it removes the EK certificate from this suite's TPM.
  it('a TPM with only an ECC EK certificate shows that EK; without any, certificatePem is null, not an error', async () => {
    await tpm2('tpm2_nvundefine', ['-T', tcti, '-C', 'p', '0x01c00002']);
    const ecc = await ok(['tpm', 'info', '--tcti', tcti]);
    const eccEk = ecc['ek'] as { certificatePem: string; publicKeyPem: string };
    expect(eccEk.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(createPublicKey(eccEk.publicKeyPem).asymmetricKeyType).toBe('ec');
    await tpm2('tpm2_nvundefine', ['-T', tcti, '-C', 'p', '0x01c00016']);
    const info = await ok(['tpm', 'info', '--tcti', tcti]);
    expect(Object.keys(info['ek'] as object).sort()).toEqual(['certificatePem', 'publicKeyPem']);
    expect((info['ek'] as { certificatePem: unknown }).certificatePem).toBeNull();
    expect((info['ek'] as { publicKeyPem: string }).publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });
});
