// Public API of the devnet: the reference primary node, its committee, network keys and seal
// checks, and the runner that starts a whole network (broker, swtpm TPMs, agents) on one machine.
export { DevnetError, type DevnetErrorCode } from './errors.ts';
export { createClerks, clerkFromKey, drawRound, primaryKeySet, MAX_CLERKS, type Clerk, type Draw } from './clerks.ts';
export { castVotes, CommitteeVoting, type Decision, type SealedCandidate } from './committee.ts';
export { clerksNetwork, NetworkKeys, type ClerksNetworkOptions, type ManifestContent, type NetworkKeysOptions, type RootKey, type SignedNetworkSource } from './network-keys.ts';
export {
  checkSeal, checkParsedSeal, StaticSealAuthority, SEAL_REJECT_CODES,
  type SealAuthority, type SealRejectCode, type SealReject, type AcceptedSeal, type SealCheck, type SealCheckContext, type OpenCandidate,
} from '../protocol/seal-check.ts';
export { TxGenerator, type TxGeneratorOptions, type TxSource } from './tx-generator.ts';
export {
  PrimaryNode, genesisTip, DEFAULT_NETWORK,
  type PrimaryNodeOptions, type PrimaryTransport, type PrimaryEvent, type PrimaryStats, type FinalBlockRecord, type SealRecord,
} from './primary.ts';
export {
  runDevnet, DEVNET_PARAMS, MAX_NODES, MAX_BLOCKS,
  type BeforeAgentsContext, type DevnetOptions, type DevnetResult, type DevnetEvent, type AgentContext, type AgentFactory, type AgentReport, type DevnetAgent,
} from './devnet.ts';
export { realAgentFactory } from './agent-factory.ts';
export {
  RegistrationAuthority, REGISTRATION_REJECT_CODES,
  type RegistrationAuthorityOptions, type RegistrationAuthorityStats, type RegistrationRejectCode, type KeyDecision, type RevocationFeed,
} from '../protocol/registration-authority.ts';
// runProvisionedDevnet (provisioned-devnet.ts) is not re-exported: it loads the registrar and its
// SQLite store; import it directly (host tooling only).
export type { ProvisionedDevnetOptions, ProvisionedDevnetResult, ProvisionedEvent, ProvisionedNodeReport } from './provisioned-devnet.ts';
