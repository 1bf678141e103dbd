// btn-node: the secondary-node agent's command line.
import { UsageError } from './args.ts';
import { tpmCommand } from './tpm-command.ts';

type Command = (argv: readonly string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; run: () => Promise<Command> }> = {
  tpm: { summary: 'tpm info|init|ticket: inspect and set up the TPM', run: async () => tpmCommand },
  activate: { summary: 'activate this TPM with the root node: --root URL', run: async () => (await import('./activate-command.ts')).activateCommand },
  run: { summary: 'run one agent against a broker: --config FILE', run: async () => (await import('./run-command.ts')).runCommand },
  status: { summary: "show what the local agent is doing (activation, TPM, broker, seals)", run: async () => (await import('./status-command.ts')).statusCommand },
  devnet: { summary: 'run a local network: primary node, broker and N agents on swtpm', run: async () => (await import('./devnet-command.ts')).devnetCommand },
  demo: { summary: 'start a throwaway swtpm and show tpm info and a sealing ticket', run: async () => (await import('./demo-command.ts')).demoCommand },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: btn-node <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`btn-node: unknown command "${name.slice(0, 40)}"\n${usage()}`);
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
  if (err instanceof UsageError) {
    process.stderr.write(`btn-node: ${err.message}\n`);
    return 2;
  }
  const e = err as { code?: string; message?: string; stack?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_')) {
    process.stderr.write(`btn-node: ${e.message} [${e.code}]\n`);
    return 1;
  }
  process.stderr.write(`btn-node: unexpected error: ${e?.stack ?? String(err)}\n`);
  return 70;
}
