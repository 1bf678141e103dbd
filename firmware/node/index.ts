// The one assembly of a secondary node (used by `btn-node run`, the device image and the devnets).
export { activationGate, createNode, MAX_REVOCATION_LIST_BYTES, type NodeOptions, type NodeTrust, type SecondaryNode } from './create-node.ts';
export { BrokerCredentialKeeper, type BrokerCredentialKeeperOptions } from './broker-credential-keeper.ts';
export { openNodeHistory, HISTORY_SAVE_MS, HISTORY_SAMPLE_MS, type NodeHistory, type NodeHistoryOptions } from './node-history.ts';
