// btn-provision: the root node's registrar and the operators' and factories' tools.
import { UsageError } from './args.ts';

type Command = (argv: readonly string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; run: () => Promise<Command> }> = {
  keygen: { summary: 'keygen --out FILE: new Ed25519 key pair (root or manufacturer)', run: async () => (await import('./keygen-command.ts')).keygenCommand },
  serve: { summary: 'serve --db URL --port N --root-key FILE --trust DIR: run the registrar', run: async () => (await import('./serve-command.ts')).serveCommand },
  manufacturer: { summary: 'manufacturer add|list: register a manufacturer public key', run: async () => (await import('./manufacturer-command.ts')).manufacturerCommand },
  batch: { summary: 'batch sign|verify|upload: signed batch manifests', run: async () => (await import('./batch-command.ts')).batchCommand },
  nodes: { summary: 'nodes list --db URL: filed, active and revoked nodes', run: async () => (await import('./nodes-command.ts')).nodesCommand },
  revoke: { summary: 'revoke --db URL --node ID (or --url URL with an operator token)', run: async () => (await import('./revoke-command.ts')).revokeCommand },
  factory: { summary: 'factory enroll ...: file TPMs at the factory station', run: loadFactory },
};

async function loadFactory(): Promise<Command> {
  const path = './factory-command.ts'; // written by the factory station's module; loaded lazily
  const mod = (await import(path)) as { factoryCommand?: Command };
  if (typeof mod.factoryCommand !== 'function') throw new UsageError('factory command is not available in this build');
  return mod.factoryCommand;
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(13)} ${c.summary}`);
  return `usage: btn-provision <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`btn-provision: unknown command "${name.slice(0, 40)}"\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.run())(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** One clear line on stderr (plus the error code), never a stack trace for expected failures. */
export function reportError(err: unknown): number {
  // firmware/cli/args.ts has its own UsageError class (factory command); same code, same exit.
  if (err instanceof UsageError || (err as { code?: unknown })?.code === 'ERR_USAGE') {
    process.stderr.write(`btn-provision: ${(err as Error).message}\n`);
    return 2;
  }
  const e = err as { code?: string; message?: string; stack?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_')) {
    process.stderr.write(`btn-provision: ${e.message} [${e.code}]\n`);
    return 1;
  }
  process.stderr.write(`btn-provision: unexpected error: ${e?.stack ?? String(err)}\n`);
  return 70;
}
