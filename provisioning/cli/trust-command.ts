// btn-provision trust list --trust DIR [--json]: every certificate of a trust directory with what
// the registrar loads it as (root, anchor, duplicate, ignored) and why, so an operator sees before
// starting `serve` which vendors' TPMs it will accept.
import { TrustStore } from '../manifest/trust.ts';
import { parse, required, UsageError } from './args.ts';

const USAGE = 'usage: btn-provision trust list --trust DIR [--json]';

export async function trustCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'list') throw new UsageError(USAGE);
  const a = parse(rest, { trust: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  const store = await TrustStore.fromDirectory(required(a.trust, '--trust', USAGE));
  if (a.json === true) {
    for (const e of store.entries) process.stdout.write(`${JSON.stringify(e)}\n`);
    return 0;
  }
  for (const e of store.entries) process.stdout.write(`${e.role.padEnd(9)} ${e.subject}\n          ${e.why}; valid until ${e.notAfter.slice(0, 10)}; sha256 ${e.sha256.slice(0, 16)}...\n`);
  const count = (role: string): number => store.entries.filter((e) => e.role === role).length;
  process.stdout.write(`${store.size} CA certificates trusted (${count('root')} self-signed roots, ${count('anchor')} anchors that are not self-signed); ${count('duplicate')} duplicates, ${count('ignored')} ignored\n`);
  return 0;
}
