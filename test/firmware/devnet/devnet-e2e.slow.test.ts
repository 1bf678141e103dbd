// End to end: a devnet with 3 real agents runs 20 blocks, all final, every seal and a quorum of
// committee votes per block verifiable from the printed JSON alone (node:crypto, devnet-lines.ts).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDevnetLines } from './devnet-lines.ts';

const ROOT = join(import.meta.dirname, '../../..');

describe('btn-node devnet, 20 blocks', () => {
  it('--nodes 3 --blocks 20 --json: all final, all seals and a quorum of votes per block verify', async () => {
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['firmware/bin/btn-node.js', 'devnet', '--nodes', '3', '--blocks', '20', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(run.code, run.stderr).toBe(0);
    const checked = checkDevnetLines(run.stdout, 20);
    expect(checked.blocks.map((b) => b['height'])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(checked.votes).toBeGreaterThanOrEqual(20 * 3); // 3 clerks, quorum 3
  }, 300_000);
});
