// The device build of btn-node (what image-build bundles): the commands a household's device
// runs, without the devnet and demo, which pull in the in-process broker and the root node's
// SQLite/PostgreSQL stores (native addons the device does not carry).
import { dispatch, type CommandEntry } from './dispatch.ts';

const COMMANDS: Record<string, CommandEntry> = {
  tpm: { summary: 'tpm info|init|ticket: inspect and set up the TPM', run: async () => (await import('./tpm-command.ts')).tpmCommand },
  activate: { summary: 'activate this TPM with the root node: --root URL', run: async () => (await import('./activate-command.ts')).activateCommand },
  run: { summary: 'run the agent: --config FILE', run: async () => (await import('./run-command.ts')).runCommand },
  status: { summary: 'show what the local agent is doing (activation, TPM, broker, seals)', run: async () => (await import('./status-command.ts')).statusCommand },
  config: { summary: 'config check FILE: validate a board config', run: async () => (await import('./config-command.ts')).configCommand },
};

export function main(argv: readonly string[]): Promise<number> {
  return dispatch('btn-node', COMMANDS, argv);
}

process.exitCode = await main(process.argv.slice(2));
