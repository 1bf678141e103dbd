// btn-provision keygen --out FILE: a new Ed25519 key pair (root or manufacturer) in a 0600 file.
import { generateEd25519, writeKeyFile } from '../keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { parse, required } from './args.ts';

const USAGE = 'usage: btn-provision keygen --out FILE';

export async function keygenCommand(argv: readonly string[]): Promise<number> {
  const args = parse(argv, { out: { type: 'string' } }, USAGE);
  const { seed } = generateEd25519();
  try {
    const key = await writeKeyFile(required(args.out, '--out', USAGE), seed);
    process.stdout.write(toHex(key.publicKey) + '\n');
  } finally {
    seed.fill(0);
  }
  return 0;
}
