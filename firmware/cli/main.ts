// btn-node: the secondary-node agent's command line.
import { dispatch, reportError, type CommandEntry } from './dispatch.ts';

const COMMANDS: Record<string, CommandEntry> = {
  tpm: { summary: 'tpm info|init|ticket: inspect and set up the TPM', run: async () => (await import('./tpm-command.ts')).tpmCommand },
  activate: { summary: 'activate this TPM with the root node: --root URL', run: async () => (await import('./activate-command.ts')).activateCommand },
  run: { summary: 'run one agent against a broker: --config FILE', run: async () => (await import('./run-command.ts')).runCommand },
  status: { summary: 'show what the local agent is doing (activation, TPM, broker, seals)', run: async () => (await import('./status-command.ts')).statusCommand },
  devnet: { summary: 'run a local network: primary node, broker and N agents on swtpm', run: async () => (await import('./devnet-command.ts')).devnetCommand },
  config: { summary: 'config check FILE: validate a board config, naming every wrong field', run: async () => (await import('./config-command.ts')).configCommand },
  demo: { summary: 'start a throwaway swtpm and show tpm info and a sealing ticket', run: async () => (await import('./demo-command.ts')).demoCommand },
};

export function main(argv: readonly string[]): Promise<number> {
  return dispatch('btn-node', COMMANDS, argv);
}

export { reportError };
