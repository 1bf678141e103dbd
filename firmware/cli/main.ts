// btn-node: the secondary-node agent's command line (development build: the device commands plus
// the devnet and the demo, which bring the in-process broker and the root node's stores).
import { DEVICE_COMMANDS } from './device-commands.ts';
import { dispatch, reportError, type CommandEntry } from '../core/cli-dispatch.ts';

const COMMANDS: Record<string, CommandEntry> = {
  ...DEVICE_COMMANDS,
  devnet: { summary: 'run a local network: primary node, broker and N agents on swtpm', run: async () => (await import('../devnet/devnet-command.ts')).devnetCommand },
  simulate: { summary: 'simulate a network of up to 2 million nodes: traffic, time to final, fairness', run: async () => (await import('../simulation/simulate-command.ts')).simulateCommand },
  loadtest: { summary: 'drive up to 10,000 simulated agents through a broker on this machine: fan-out latency, throughput, CPU, memory', run: async () => (await import('../simulation/loadtest-command.ts')).loadtestCommand },
  demo: { summary: 'start a throwaway swtpm and show tpm info and a sealing ticket', run: async () => (await import('../devnet/demo-command.ts')).demoCommand },
};

export function main(argv: readonly string[]): Promise<number> {
  return dispatch('btn-node', COMMANDS, argv);
}

export { reportError };
