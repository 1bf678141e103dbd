// btn-provision revoke --db URL --node ID [--reason TEXT]
// btn-provision revoke --url URL --node ID [--reason TEXT] [--token-file FILE]   (token also from BTN_ADMIN_TOKEN)
import { ProvisioningError } from '../errors.ts';
import { openStore } from '../store/open.ts';
import { parse, printJson, required, UsageError } from './args.ts';
import { callRegistrar, operatorToken, registrarAt } from './registrar-call.ts';

const USAGE = 'usage: btn-provision revoke --db URL --node ID [--reason TEXT]\n       btn-provision revoke --url URL --node ID [--reason TEXT] [--token-file FILE]';

export async function revokeCommand(argv: readonly string[]): Promise<number> {
  const a = parse(argv, { db: { type: 'string' }, url: { type: 'string' }, node: { type: 'string' }, reason: { type: 'string' }, 'token-file': { type: 'string' } }, USAGE);
  const node = required(a.node, '--node', USAGE);
  if (!/^[0-9a-f]{64}$/.test(node)) throw new UsageError(`--node must be a node id (64 lower-case hex digits)\n${USAGE}`);
  const reason = a.reason ?? 'revoked by operator';
  if ((a.db === undefined) === (a.url === undefined)) throw new UsageError(`give exactly one of --db or --url\n${USAGE}`);
  if (a.db !== undefined) {
    const store = await openStore(a.db);
    try {
      const r = await store.revoke({ nodeId: node, reason, now: Date.now() });
      if (r.outcome === 'unknown') throw new ProvisioningError('ERR_PROV_NOT_FOUND', `no node ${node}`);
      printJson({ nodeId: node, state: 'revoked', outcome: r.outcome, revocationVersion: r.version });
    } finally {
      await store.close();
    }
    return 0;
  }
  const token = await operatorToken(a['token-file'], 'revoking over HTTP', USAGE);
  const client = registrarAt(required(a.url, '--url', USAGE), USAGE);
  const answer = await callRegistrar(() => client.revoke(node, reason, token));
  if (answer === null) return 1;
  printJson(answer);
  return 0;
}
