// Argument parsing for btn-provision's commands: the same strict, bounded parser as btn-node's.
export { boundedInt, UsageError, parse, printJson, required } from '../../firmware/core/cli-args.ts';
