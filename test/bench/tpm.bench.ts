// TPM signature latency on one fresh swtpm, in one run:
//   (a) the binding's lottery key, the path every seal takes (password session, the default;
//       SHA-256 of the 36-byte message in node, then TPM2_Sign),
//   (b) the baseline: a C loop over Esys_Sign (test/bench/c/esys-sign-loop.c, compiled here),
//   (c) the tpm2_sign command, one process per signature,
//   (d) the binding with signSession: 'encrypted' (salted HMAC session, AES-128-CFB).
// The binding and the C loop alternate in rounds so that load from other work on the machine
// falls on both alike; each figure is the median over all its rounds.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lotteryMessage } from '../../firmware/protocol/chain/lottery.ts';
import { openTpm, type LotteryKey, type Tpm } from '../../tpm/tpm.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const execFileAsync = promisify(execFile);
const C_SOURCE = fileURLToPath(new URL('./c/esys-sign-loop.c', import.meta.url));
const HANDLE = '0x81000B70';
const TOOL_ENV = { ...process.env, TSS2_LOG: 'all+NONE' };

function digestOf(i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`bench ${i}`).digest());
}

async function bindingRound(key: LotteryKey, count: number, offset: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const message = lotteryMessage(digestOf(offset + i), 0);
    const start = performance.now();
    await key.sign(message);
    times.push(performance.now() - start);
  }
  return times;
}

async function cRound(binary: string, tcti: string, count: number, warmup: number): Promise<number[]> {
  const { stdout } = await execFileAsync(binary, [tcti, HANDLE, String(count), String(warmup)], { env: TOOL_ENV, maxBuffer: 16 * 1024 * 1024 });
  const lines = stdout.trim().split('\n');
  const times = lines.filter((l) => !l.startsWith('median')).map(Number);
  if (times.length !== count || times.some((t) => !Number.isFinite(t))) throw new Error(`esys-sign-loop printed ${times.length} timings, expected ${count}`);
  return times;
}

async function compile(dir: string): Promise<string> {
  const binary = join(dir, 'esys-sign-loop');
  try {
    await execFileAsync('cc', ['-O2', '-o', binary, C_SOURCE, '-ltss2-esys', '-ltss2-tctildr']);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`cannot compile ${C_SOURCE} (needs cc and libtss2-dev): ${(e.stderr || e.message).trim()}`);
  }
  return binary;
}

export const run: BenchSuite = async (report, { quick }) => {
  const rounds = quick ? 2 : 10;
  const perRound = quick ? 40 : 50; // 500 signatures per figure in a full run
  const warmup = quick ? 10 : 50;
  const toolRuns = quick ? 10 : 50;

  const dir = await mkdtemp(join(tmpdir(), 'btn-bench-tpm-'));
  const swtpm = await startSwtpm({ caDir: join(dir, 'ca') });
  let tpm: Tpm | null = null;
  let encrypted: Tpm | null = null;
  try {
    const binary = await compile(dir);
    tpm = await openTpm({ tcti: swtpm.tcti });
    await tpm.ensureSealingKey();
    const lottery = tpm.lotteryKey();

    // Warm-up for both, then alternate rounds.
    await bindingRound(lottery, warmup, -warmup);
    await cRound(binary, swtpm.tcti, 1, warmup);
    const binding: number[] = [];
    const c: number[] = [];
    const pairedRatios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const b = await bindingRound(lottery, perRound, r * perRound);
      const cc = await cRound(binary, swtpm.tcti, perRound, 5);
      binding.push(...b);
      c.push(...cc);
      pairedRatios.push(median(b) / median(cc));
    }
    const bindingMedian = median(binding);
    const cMedian = median(c);

    // tpm2_sign: one process per signature, as a shell script would sign.
    await writeFile(join(dir, 'digest.bin'), digestOf(0));
    const args = ['-T', swtpm.tcti, '-c', HANDLE, '-g', 'sha256', '-s', 'rsassa', '-f', 'plain', '-d', '-o', join(dir, 'sig.bin'), join(dir, 'digest.bin')];
    await execFileAsync('tpm2_sign', args, { env: TOOL_ENV });
    const tool: number[] = [];
    for (let i = 0; i < toolRuns; i++) {
      const start = performance.now();
      await execFileAsync('tpm2_sign', args, { env: TOOL_ENV });
      tool.push(performance.now() - start);
    }
    const toolMedian = median(tool);

    encrypted = await openTpm({ tcti: swtpm.tcti, signSession: 'encrypted' });
    const encryptedLottery = encrypted.lotteryKey();
    await bindingRound(encryptedLottery, warmup, -warmup);
    const enc = await bindingRound(encryptedLottery, rounds * perRound, 0);
    const encMedian = median(enc);

    report({ name: 'tpm sign median, C Esys_Sign loop (baseline)', value: round(cMedian), unit: 'ms' });
    report(withBaseline('tpm sign median, binding (password session)', round(bindingMedian), 'ms', 'C Esys_Sign loop', round(cMedian)));
    // Less sensitive to load drifting during the run than the ratio of the overall medians.
    report({ name: 'tpm sign binding/C ratio, median of paired rounds', value: round(median(pairedRatios)), unit: 'x' });
    report(withBaseline('tpm sign p90, binding (password session)', round(quantile(binding, 0.9)), 'ms', 'C Esys_Sign loop p90', round(quantile(c, 0.9))));
    report(withBaseline('tpm sign median, binding (encrypted session)', round(encMedian), 'ms', 'C Esys_Sign loop', round(cMedian)));
    report(withBaseline('tpm sign median, tpm2_sign command', round(toolMedian), 'ms', 'binding (password session)', round(bindingMedian)));
  } finally {
    await encrypted?.close();
    await tpm?.close();
    await swtpm.destroy();
    await rm(dir, { recursive: true, force: true });
  }
};

function round(ms: number): number {
  return Number(ms.toFixed(3));
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
