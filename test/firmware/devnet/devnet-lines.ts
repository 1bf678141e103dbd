// Independent check of `btn-node devnet --json` output, with node:crypto only (no project code):
// every seal verifies under its publicKeyPem over hash || uint32be(round), zeros recomputed,
// heights contiguous, each block's previousHash is the previous final hash.
import { createHash, createPublicKey, verify } from 'node:crypto';

export interface CheckedRun {
  readonly params: Record<string, number>;
  readonly blocks: Record<string, unknown>[];
  readonly seals: number;
}

function leadingZeroBits(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) {
    if (b === 0) { n += 8; continue; }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

export function checkDevnetLines(stdout: string, expectedBlocks: number): CheckedRun {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  const objects = lines.map((l, i) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new Error(`stdout line ${i + 1} is not JSON: ${l.slice(0, 200)}`);
    }
  });
  const first = objects[0];
  if (first === undefined || typeof first['params'] !== 'object') throw new Error('first line must be { "params": ... }');
  const params = first['params'] as Record<string, number>;
  for (const k of ['sealZeros', 'clerkZeros', 'spinIntervalMs', 'maxRounds', 'sealDeadlineMs']) {
    if (!Number.isInteger(params[k])) throw new Error(`params.${k} missing`);
  }
  const blocks = objects.slice(1);
  if (blocks.length !== expectedBlocks) throw new Error(`expected ${expectedBlocks} block lines, got ${blocks.length}`);
  let previous: string | undefined;
  let height: number | undefined;
  let seals = 0;
  for (const b of blocks) {
    const h = b['height'] as number;
    if (b['final'] !== true) throw new Error(`block ${h} is not final`);
    if (height !== undefined && h !== height + 1) throw new Error(`height ${h} after ${height}`);
    height = h;
    const hash = b['hash'] as string;
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`block ${h} hash is not 32 bytes of hex`);
    if (!/^[0-9a-f]{64}$/.test(b['clerk'] as string)) throw new Error(`block ${h} clerk is not a fingerprint`);
    if (typeof b['msToFinal'] !== 'number' || (b['msToFinal'] as number) < 0) throw new Error(`block ${h} msToFinal`);
    if (previous !== undefined && b['previousHash'] !== undefined && b['previousHash'] !== previous) throw new Error(`block ${h} previousHash is not the previous final hash`);
    previous = hash;
    const list = b['seals'] as Record<string, unknown>[];
    if (!Array.isArray(list) || list.length === 0) throw new Error(`block ${h} has no seals`);
    for (const s of list) {
      const round = s['round'] as number;
      const message = Buffer.alloc(36);
      Buffer.from(hash, 'hex').copy(message, 0);
      message.writeUInt32BE(round, 32);
      const signature = Buffer.from(s['signature'] as string, 'hex');
      const key = createPublicKey(s['publicKeyPem'] as string);
      if (!verify('sha256', message, key, signature)) throw new Error(`block ${h}: seal of ${String(s['node'])} does not verify under its publicKeyPem`);
      const zeros = leadingZeroBits(createHash('sha256').update(signature).digest());
      if (zeros !== s['zeros']) throw new Error(`block ${h}: seal of ${String(s['node'])} claims ${String(s['zeros'])} zeros, has ${zeros}`);
      if (zeros < params['sealZeros']!) throw new Error(`block ${h}: seal of ${String(s['node'])} has ${zeros} < sealZeros ${params['sealZeros']}`);
      seals++;
    }
  }
  return { params, blocks, seals };
}
