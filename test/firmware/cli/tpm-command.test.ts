// `btn-node tpm info|init|ticket` as a user runs it: a child process per call, JSON on stdout.
import { execFile } from 'node:child_process';
import { createHash, verify, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixture, tpm2, type SwtpmFixture } from '../../tpm/helpers.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(ROOT, 'firmware', 'bin', 'btn-node.js');
const HEX = /^[0-9a-f]*$/;

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
  // The fields, plus the vendor string the binding adds.
  expect(Object.keys(info).sort()).toEqual(['ek', 'firmwareVersion', 'manufacturer', 'sealingKey', 'vendor']);
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
    const second = await ok(['tpm', 'init', '--tcti', tcti]);
    expect(second).toEqual(first);
    expect(await ok(['tpm', 'info', '--tcti', tcti])).toEqual(first);
  });

  it('ticket prints { message, signature, ticket, zeros }: a verifiable RSASSA-SHA256 signature of the message bytes', async () => {
    const info = await ok(['tpm', 'info', '--tcti', tcti]);
    const pem = (info['sealingKey'] as { publicKeyPem: string }).publicKeyPem;
    const messageHex = createHash('sha256').update('block').digest('hex') + '00000003';
    const t = await ok(['tpm', 'ticket', '--tcti', tcti, '--message', messageHex]);
    expect(Object.keys(t).sort()).toEqual(['message', 'signature', 'ticket', 'zeros']);
    expect(t['message']).toBe(messageHex);
    for (const field of ['message', 'signature', 'ticket'] as const) expect(t[field]).toMatch(HEX);
    const signature = Buffer.from(t['signature'] as string, 'hex');
    expect(signature.length).toBe(256);
    expect(verify('sha256', Buffer.from(messageHex, 'hex'), pem, signature)).toBe(true);
    expect(t['ticket']).toBe(createHash('sha256').update(signature).digest('hex'));
    expect(Number.isInteger(t['zeros'])).toBe(true);
    const bits = BigInt(`0x${t['ticket'] as string}`).toString(2).padStart(256, '0');
    expect(t['zeros']).toBe(bits.indexOf('1') < 0 ? 256 : bits.indexOf('1'));
    // Same bytes as tpm2_sign over the message, and the same again on a second run.
    await writeFile(join(fx.dir, 'msg.bin'), Buffer.from(messageHex, 'hex'));
    await tpm2('tpm2_sign', ['-T', tcti, '-c', '0x81000B70', '-g', 'sha256', '-s', 'rsassa', '-f', 'plain', '-o', 'sig.bin', 'msg.bin'], { cwd: fx.dir });
    expect((await readFile(join(fx.dir, 'sig.bin'))).toString('hex')).toBe(t['signature']);
    expect(await ok(['tpm', 'ticket', '--tcti', tcti, '--message', messageHex])).toEqual(t);
  });

  it('an empty message is a message too', async () => {
    const t = await ok(['tpm', 'ticket', '--tcti', tcti, '--message', '']);
    expect(t['message']).toBe('');
    expect((t['signature'] as string).length).toBe(512);
  });

  it('--handle selects another sealing key for init, info and ticket', async () => {
    const init = await ok(['tpm', 'init', '--tcti', tcti, '--handle', '0x81000B71']);
    const key = init['sealingKey'] as { handle: string; publicKeyPem: string; name: string };
    expect(key.handle).toBe('0x81000B71');
    const info = await ok(['tpm', 'info', '--tcti', tcti, '--handle', '0x81000b71']);
    expect(info['sealingKey']).toEqual(key);
    const t = await ok(['tpm', 'ticket', '--tcti', tcti, '--handle', '0x81000B71', '--message', '0102']);
    expect(verify('sha256', Buffer.from([1, 2]), key.publicKeyPem, Buffer.from(t['signature'] as string, 'hex'))).toBe(true);
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
      fails(['tpm', 'ticket', '--tcti', tcti], /tpm ticket needs --message HEX/),
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
      fails(['tpm', 'ticket', '--tcti', offline, '--message', 'abc'], /even-length hex/),
      fails(['tpm', 'ticket', '--tcti', offline, '--message', 'zz'], /even-length hex/),
    ]);
    for (const run of runs) expect(run.code).toBe(1);
  });

  it('a message longer than the CLI accepts is refused before the TPM; the longest accepted one signs', async () => {
    // Every argv string is capped at 4096 characters (firmware/core/cli-args.ts), so --message takes
    // at most 2048 bytes; Linux would refuse 64 KiB as hex (128 KiB + 2) in argv anyway.
    const run = await fails(['tpm', 'ticket', '--tcti', offline, '--message', '00'.repeat(2049)], /longer than 4096/);
    expect(run.code).toBe(2);
    const t = await ok(['tpm', 'ticket', '--tcti', tcti, '--message', 'ab'.repeat(2048)]);
    expect(t['message']).toBe('ab'.repeat(2048));
  });

  it('an unreachable TPM gives one clear error naming the TCTI, exit 1', async () => {
    const run = await fails(['tpm', 'info', '--tcti', offline], /ERR_TPM_UNREACHABLE/);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`"${offline}"`);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('ticket on a handle without a key says to run init', async () => {
    const run = await fails(['tpm', 'ticket', '--tcti', tcti, '--handle', '0x81000BEE', '--message', '00'], /no sealing key at 0x81000BEE.*tpm init.*\[ERR_TPM_KEY_MISMATCH\]/);
    expect(run.code).toBe(1);
  });

  // Last: it removes the EK certificate from this suite's TPM.
  it('a TPM without an EK certificate: certificatePem is null, not an error', async () => {
    await tpm2('tpm2_nvundefine', ['-T', tcti, '-C', 'p', '0x01c00002']);
    const info = await ok(['tpm', 'info', '--tcti', tcti]);
    expect(Object.keys(info['ek'] as object).sort()).toEqual(['certificatePem', 'publicKeyPem']);
    expect((info['ek'] as { certificatePem: unknown }).certificatePem).toBeNull();
    expect((info['ek'] as { publicKeyPem: string }).publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });
});
