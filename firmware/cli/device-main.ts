// The device build of btn-node (what image-build bundles): only the commands a household's
// device runs, so the bundle carries neither the devnet's broker nor the root node's stores.
import { DEVICE_COMMANDS } from './device-commands.ts';
import { dispatch } from '../core/cli-dispatch.ts';

process.exitCode = await dispatch('btn-node', DEVICE_COMMANDS, process.argv.slice(2));
