// Child process for agent-crash.slow.test.ts: `btn-node run --config FILE` through the command module.
import { runCommand } from '../../../firmware/cli/run-command.ts';

process.exitCode = await runCommand(process.argv.slice(2));
