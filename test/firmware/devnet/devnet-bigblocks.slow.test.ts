// Big blocks end to end: the devnet (3 real agents on swtpm, the provisioned path) with 1,000- and
// 10,000-transaction candidates through the transport's real limits, as binary frames (the
// primary's default) and as JSON: every block final, every seal and a quorum of votes verifiable
// from the printed JSON alone.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDevnetLines } from './devnet-lines.ts';

const ROOT = join(import.meta.dirname, '../../..');

async function devnet(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['firmware/bin/btn-node.js', 'devnet', '--json', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('btn-node devnet with big blocks', () => {
  for (const [txs, blocks, encoding] of [[1000, 3, 'binary'], [10_000, 3, 'binary'], [10_000, 2, 'json']] as const) {
    it(`--txs ${txs} --blocks ${blocks} --candidates ${encoding}: every block final, with all its transactions`, async () => {
      const run = await devnet(['--nodes', '3', '--blocks', String(blocks), '--txs', String(txs), '--candidates', encoding]);
      expect(run.code, run.stderr.slice(-4000)).toBe(0);
      const checked = checkDevnetLines(run.stdout, blocks);
      expect(checked.blocks.map((b) => b['height'])).toEqual(Array.from({ length: blocks }, (_, i) => i + 1));
      expect(checked.blocks.every((b) => b['final'] === true && b['txCount'] === txs)).toBe(true);
      // nothing was dropped on the way for its size or its encoding (a seal that expired while the
      // machine was loaded is dropped for its time, which is not what this test is about)
      const dropped = run.stderr.split('\n').filter((l) => l.includes('inbound message dropped') && !l.includes('"reason":"expired"'));
      expect(dropped).toEqual([]);
      expect(run.stderr).not.toMatch(/oversize|wire-version/);
    }, 400_000);
  }
});
