// Independent check of `btn-node devnet --json` output, with node:crypto only (no project code),
// from the bytes docs/protocol.md documents: the manifest verifies under the printed root key;
// every final block carries at least `quorum` votes of distinct committee members, each an
// Ed25519 signature over the vote bytes; every seal verifies under its publicKeyPem over
// hash || uint32be(round), zeros recomputed; heights contiguous, each block's previousHash is the
// previous final hash, each block's clerk one of the manifest's primaries.
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

export interface CheckedRun {
  readonly params: Record<string, number>;
  readonly blocks: Record<string, unknown>[];
  readonly seals: number;
  /** Votes that verified, over all blocks. */
  readonly votes: number;
}

interface Manifest {
  network: string; version: number; validFrom: number; params: Record<string, number>; primaries: string[];
  committee: { members: string[]; quorum: number }; genesis: { hash: string; height: number; timestamp: number }; signature: string;
}

/** A raw 32-byte Ed25519 public key (hex) as a KeyObject: the RFC 8410 SPKI prefix completes it. */
function ed25519Key(hex: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

function manifestBytes(m: Manifest): Buffer {
  const p = m.params;
  return Buffer.from('btn-manifest/v1\n' + JSON.stringify([
    'btn-manifest/v1', m.network, m.version, m.validFrom,
    [p['sealZeros'], p['clerkZeros'], p['spinIntervalMs'], p['maxRounds'], p['sealDeadlineMs'], p['timestampWindowMs'], p['maxBlockTxs'], p['maxBlockBytes']],
    m.primaries, m.committee.members, m.committee.quorum, [m.genesis.hash, m.genesis.height, m.genesis.timestamp],
  ]), 'utf8');
}

function voteBytes(network: string, height: number, hash: string, timestamp: number): Buffer {
  return Buffer.from('btn-vote/v1\n' + JSON.stringify([network, height, hash, timestamp]), 'utf8');
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
  const network = first['network'] as string;
  const manifest = first['manifest'] as Manifest;
  if (typeof first['rootPublicKey'] !== 'string' || typeof manifest !== 'object') throw new Error('first line must carry rootPublicKey and manifest');
  if (!verify(null, manifestBytes(manifest), ed25519Key(first['rootPublicKey']), Buffer.from(manifest.signature, 'hex'))) throw new Error('manifest signature does not verify under rootPublicKey');
  if (manifest.network !== network) throw new Error(`manifest is for ${manifest.network}, the line names ${network}`);
  for (const k of Object.keys(manifest.params)) if (manifest.params[k] !== params[k]) throw new Error(`manifest params.${k} differs from the params printed`);
  const members = new Map(manifest.committee.members.map((m) => [m, ed25519Key(m)]));
  const quorum = manifest.committee.quorum;
  if (!(quorum > members.size / 2)) throw new Error(`quorum ${quorum} is no majority of ${members.size}`);
  const clerks = new Set(manifest.primaries.map((k) => createHash('sha256').update(Buffer.from(k, 'hex')).digest('hex')));
  const blocks = objects.slice(1);
  if (blocks.length !== expectedBlocks) throw new Error(`expected ${expectedBlocks} block lines, got ${blocks.length}`);
  let previous: string | undefined;
  let height: number | undefined;
  let seals = 0;
  let votes = 0;
  for (const b of blocks) {
    const h = b['height'] as number;
    if (b['final'] !== true) throw new Error(`block ${h} is not final`);
    if (height !== undefined && h !== height + 1) throw new Error(`height ${h} after ${height}`);
    height = h;
    const hash = b['hash'] as string;
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`block ${h} hash is not 32 bytes of hex`);
    if (!clerks.has(b['clerk'] as string)) throw new Error(`block ${h} clerk is not one of the manifest's primaries`);
    // At least `quorum` distinct members whose vote verifies for (network, height, hash, timestamp).
    const message = voteBytes(network, h, hash, b['timestamp'] as number);
    const voters = new Set<string>();
    for (const v of b['votes'] as { member: string; signature: string }[]) {
      const key = members.get(v.member);
      if (key !== undefined && verify(null, message, key, Buffer.from(v.signature, 'hex'))) voters.add(v.member);
    }
    if (voters.size < quorum) throw new Error(`block ${h}: ${voters.size} verified vote(s) of distinct members, quorum ${quorum}`);
    votes += voters.size;
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
  return { params, blocks, seals, votes };
}
