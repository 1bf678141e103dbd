// btn-provision: the root node's registrar and the operators' and factories' tools.
import { dispatch, reportError as report, type CommandEntry } from '../../firmware/core/cli-dispatch.ts';

const COMMANDS: Record<string, CommandEntry> = {
  keygen: { summary: 'keygen --out FILE: new Ed25519 key pair (root or manufacturer)', run: async () => (await import('./keygen-command.ts')).keygenCommand },
  serve: { summary: 'serve --db URL --port N --root-key FILE --trust DIR: run the registrar', run: async () => (await import('./serve-command.ts')).serveCommand },
  manufacturer: { summary: 'manufacturer add|list: register a manufacturer public key', run: async () => (await import('./manufacturer-command.ts')).manufacturerCommand },
  batch: { summary: 'batch sign|verify|upload: signed batch manifests', run: async () => (await import('./batch-command.ts')).batchCommand },
  manifest: { summary: 'manifest sign|publish: the root-signed network manifest', run: async () => (await import('./manifest-command.ts')).manifestCommand },
  root: { summary: 'root rotate ...: announce the root\'s next key with an overlap window', run: async () => (await import('./root-command.ts')).rootCommand },
  nodes: { summary: 'nodes list --db URL: filed, active and revoked nodes', run: async () => (await import('./nodes-command.ts')).nodesCommand },
  revoke: { summary: 'revoke --db URL --node ID (or --url URL with an operator token)', run: async () => (await import('./revoke-command.ts')).revokeCommand },
  trust: { summary: 'trust list|bundle: what the registrar trusts and why; a signed vendor CA bundle', run: async () => (await import('./trust-command.ts')).trustCommand },
  update: { summary: 'update announce ...: sign (and publish) the fleet\'s update announcement', run: async () => (await import('./update-command.ts')).updateCommand },
  factory: { summary: 'factory enroll ...: file TPMs at the factory station', run: async () => (await import('./factory-command.ts')).factoryCommand },
};

export function main(argv: readonly string[]): Promise<number> {
  return dispatch('btn-provision', COMMANDS, argv);
}

/** One clear line on stderr (plus the error code), never a stack trace for expected failures. */
export function reportError(err: unknown): number {
  return report(err, 'btn-provision');
}
