// The commands a household's device runs. The device bundle (device-main.ts) has only these;
// the development CLI (main.ts) adds the devnet and the demo.
import type { CommandEntry } from '../core/cli-dispatch.ts';

export const DEVICE_COMMANDS: Readonly<Record<string, CommandEntry>> = {
  tpm: { summary: 'tpm info|init|ticket: inspect and set up the TPM', run: async () => (await import('./tpm-command.ts')).tpmCommand },
  activate: { summary: 'activate this TPM with the root node: --root URL', run: async () => (await import('./activate-command.ts')).activateCommand },
  run: { summary: 'run one agent against a broker: --config FILE', run: async () => (await import('./run-command.ts')).runCommand },
  status: { summary: 'show what the local agent is doing (activation, TPM, broker, seals)', run: async () => (await import('./status-command.ts')).statusCommand },
  journal: { summary: 'journal inspect|export|import: show the seal journal, move it to new storage (no reset)', run: async () => (await import('./journal-command.ts')).journalCommand },
  update: { summary: 'update install FILE|check-health: signed A/B updates with rollback', run: async () => (await import('./update-command.ts')).updateCommand },
  config: { summary: 'config check FILE: validate a board config, naming every wrong field', run: async () => (await import('./config-command.ts')).configCommand },
};
