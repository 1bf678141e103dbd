// The seal signer on a real TPM (swtpm): it takes the sealing key's lottery key, so nothing else
// in the process signs a lottery message; its signatures and tickets are checked with openssl and
// tpm2-tools, independently of our code. Also: no shipped module other than the signer takes the key.
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { openSealJournal, type RecordedDecision, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { openTpm, type SealingKeyInfo, type Tpm } from '../../../tpm/tpm.ts';
import { startFixture, tpm2, type SwtpmFixture } from '../../tpm/helpers.ts';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const CLERK = 'c'.repeat(64);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function codeOf(call: () => unknown): Promise<string> {
  try {
    await call();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'no error';
}

describe('SealSigner on swtpm', () => {
  let fx: SwtpmFixture;
  let tpm: Tpm;
  let key: SealingKeyInfo;
  let journal: SealJournal;
  let signer: SealSigner;
  let dir: string;

  beforeAll(async () => {
    fx = await startFixture();
    dir = await mkdtemp(join(tmpdir(), 'btn-seal-signer-tpm-'));
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
    key = await tpm.ensureSealingKey();
    journal = await openSealJournal(join(dir, 'journal'));
    signer = new SealSigner(journal, tpm, key.handle);
  });
  afterAll(async () => {
    await journal?.close();
    await tpm?.close();
    await fx?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('signs a recorded decision: openssl verifies the RSASSA signature under the key\'s PEM, the ticket is its SHA-256, tpm2_sign makes the same bytes', async () => {
    const blockHash = new Uint8Array(32).fill(0xab);
    const check = await journal.checkAndRecord({ height: 1, clerk: CLERK, blockHash });
    if (!check.ok) throw new Error(check.message);
    const round = 5;
    const signature = await signer.sign(check.decision, round);
    await writeFile(join(fx.dir, 'key.pem'), key.publicKeyPem);
    await writeFile(join(fx.dir, 'msg.bin'), lotteryMessage(blockHash, round));
    await writeFile(join(fx.dir, 'sig.bin'), signature);
    const verified = await run('openssl', ['dgst', '-sha256', '-verify', 'key.pem', '-signature', 'sig.bin', 'msg.bin'], { cwd: fx.dir });
    expect(verified.stdout.trim()).toBe('Verified OK');
    const digest = await run('openssl', ['dgst', '-sha256', '-r', 'sig.bin'], { cwd: fx.dir });
    const ticket = scoreTicket(signature, round);
    expect(hex(ticket.ticket)).toBe(digest.stdout.split(' ')[0]);
    const bits = [...ticket.ticket].map((b) => b.toString(2).padStart(8, '0')).join('');
    expect(ticket.zeros).toBe(bits.indexOf('1') < 0 ? 256 : bits.indexOf('1'));
    await tpm2('tpm2_sign', ['-T', fx.swtpm.tcti, '-c', '0x81000B70', '-g', 'sha256', '-s', 'rsassa', '-f', 'plain', '-o', 'tool.sig', 'msg.bin'], { cwd: fx.dir });
    expect(hex(await readFile(join(fx.dir, 'tool.sig')))).toBe(hex(signature));
  });

  it('refuses an unrecorded decision with ERR_SEAL_UNRECORDED', async () => {
    const forged = { height: 2, clerk: CLERK, blockHash: new Uint8Array(32).fill(1) } as unknown as RecordedDecision;
    expect(await codeOf(() => signer.sign(forged, 0))).toBe('ERR_SEAL_UNRECORDED');
  });

  it('holds the TPM\'s lottery key: no second signer, no second claim, and the general sign refuses lottery messages', async () => {
    expect(await codeOf(() => new SealSigner(journal, tpm, key.handle))).toBe('ERR_TPM_LOTTERY_KEY_TAKEN');
    expect(await codeOf(() => tpm.lotteryKey({ handle: key.handle }))).toBe('ERR_TPM_LOTTERY_KEY_TAKEN');
    expect(await codeOf(() => tpm.sign(lotteryMessage(new Uint8Array(32), 0)))).toBe('ERR_TPM_ARGUMENT');
  });

  it('close() gives the key back: the closed signer signs no more, a new one (a restarted node) can', async () => {
    const check = await journal.checkAndRecord({ height: 3, clerk: CLERK, blockHash: new Uint8Array(32).fill(3) });
    if (!check.ok) throw new Error(check.message);
    signer.close();
    signer.close();
    expect(await codeOf(() => signer.sign(check.decision, 0))).toBe('ERR_TPM_CLOSED');
    signer = new SealSigner(journal, tpm, key.handle);
    expect((await signer.sign(check.decision, 0)).length).toBe(256);
    expect(await codeOf(() => new SealSigner(journal, tpm, key.handle))).toBe('ERR_TPM_LOTTERY_KEY_TAKEN');
  });
});

describe('one holder of the lottery key', () => {
  it('no shipped module but the seal signer takes it (tpm/tpm.ts defines it)', async () => {
    const callers: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory() && e.name !== 'node_modules') await walk(p);
        else if (/\.(ts|js|mjs)$/.test(e.name) && /\blotteryKey\s*\(/.test(await readFile(p, 'utf8'))) callers.push(relative(ROOT, p));
      }
    };
    for (const top of ['firmware', 'provisioning', 'tpm', 'image-build']) await walk(join(ROOT, top));
    expect(callers.sort()).toEqual(['firmware/sealing/seal-signer.ts', 'tpm/tpm.ts']);
  });
});
