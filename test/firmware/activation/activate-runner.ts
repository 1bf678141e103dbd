// `btn-node activate` as its own process for the end-to-end test (the lead wires the command
// into firmware/cli/main.ts; this runner mirrors main's handling of usage errors).
import { activateCommand } from '../../../firmware/cli/activate-command.ts';

activateCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`btn-node: ${(err as Error).message}\n`);
    process.exitCode = (err as { code?: string }).code === 'ERR_USAGE' ? 2 : 70;
  },
);
