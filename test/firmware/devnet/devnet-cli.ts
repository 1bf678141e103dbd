// Subprocess entry for the devnet command with a choice of agents:
// node --import tsx test/firmware/devnet/devnet-cli.ts --nodes 3 ...
// BTN_DEVNET_STAND_IN=1 runs TPM-backed stand-in agents instead of the real ones (cleanup tests).
import { devnetCommand } from '../../../firmware/devnet/devnet-command.ts';
import { reportError } from '../../../firmware/cli/main.ts';
import { standInAgent } from './stand-in-secondary.ts';

const standIn = process.env['BTN_DEVNET_STAND_IN'] === '1';
try {
  process.exitCode = await devnetCommand(process.argv.slice(2), standIn
    ? {
      agentFactory: (ctx) => standInAgent({
        transport: ctx.transport, nodeId: ctx.nodeId, topics: ctx.topics, params: ctx.params,
        sign: ctx.tpm.lotteryKey({ handle: ctx.sealingKey.handle }).sign,
      }),
    }
    : {});
} catch (err) {
  process.exitCode = reportError(err);
}
