// The agent's options, and their check at the boundary (createAgent), naming the wrong field.
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { BatchVerifier } from '../protocol/chain/verify-pool.ts';
import type { NetworkView } from '../node/network-state.ts';
import type { SealAuthority } from '../protocol/seal-check.ts';
import type { SealGate } from '../sealing/gate.ts';
import type { SealJournal } from '../sealing/journal.ts';
import { SealSigner } from '../sealing/seal-signer.ts';
import type { MqttTransport } from '../transport/mqtt-transport.ts';
import type { Topics } from '../protocol/topics.ts';
import type { Tpm } from '../../tpm/tpm.ts';
import { AgentError } from './errors.ts';
import type { FaultBoard } from './faults.ts';

export interface AgentOptions {
  readonly nodeId: string;
  /** Opened TPM with the sealing key ensured: read for status only; it never signs through the agent. */
  readonly tpm: Pick<Tpm, 'info'>;
  /**
   * The sealing key's self-test (the TPM signs a fresh self-test message, verified in software),
   * run once at start for the status; the update health check requires it. The agent itself signs
   * nothing: this is the one call it is handed for it.
   */
  readonly selfTest?: () => Promise<{ readonly verified: boolean }>;
  /** The only way the agent gets a lottery signature: signs decisions the journal recorded. */
  readonly signer: SealSigner;
  readonly sealingHandle?: number;
  /** Created (and closed) by the caller. */
  readonly transport: Pick<MqttTransport, 'subscribe' | 'publish' | 'publishSeal' | 'state' | 'on' | 'off' | 'inboundCeiling'> & Partial<Pick<MqttTransport, 'identity'>>;
  readonly topics: Topics;
  readonly journal: SealJournal;
  readonly gate: SealGate;
  /**
   * The network's terms (params, the clerks' RSA keys, the committee, genesis) from the newest
   * root-signed manifest the node holds; the agent offers it every manifest the broker delivers.
   */
  readonly network: NetworkView;
  readonly logger?: Logger;
  readonly clock?: Pick<Clock, 'now' | 'sleep'>;
  /** Where status.json is written every statusIntervalMs. */
  readonly stateDir?: string;
  readonly statusIntervalMs?: number;
  /** Signature checks of large blocks (a VerifyPool); inline by default. */
  readonly verifier?: BatchVerifier;
  /**
   * Whose seals count as competition that stops our spinning, judged by competingSeal() exactly as
   * the clerks judge them: on a provisioned network a RegistrationAuthority (root-signed
   * registration, not revoked, signature under the registered key). null only on an unprovisioned
   * devnet, where any qualifying ticket counts: a forged one costs this node its chance (never
   * safety), and anyone on the broker can stop such a network.
   */
  readonly sealAuthority: SealAuthority | null;
  /** Faults of the node now (full disk, ...), shown in status; one shared with the run command. */
  readonly faults?: FaultBoard;
  /** How late the event loop ran over the last minute, for the status (firmware/status/event-loop.ts). */
  readonly eventLoop?: () => { readonly p99Ms: number; readonly maxMs: number };
}


export function checkOptions(o: AgentOptions): void {
  const need = (ok: boolean, field: string, what: string): void => {
    if (!ok) throw new AgentError('ERR_AGENT_OPTIONS', `createAgent: ${field} ${what}`, { field });
  };
  need(o !== null && typeof o === 'object', 'options', 'must be an object');
  need(typeof o.nodeId === 'string' && /^[0-9a-zA-Z_-]{1,128}$/.test(o.nodeId), 'nodeId', 'must be 1..128 characters of [0-9a-zA-Z_-]');
  need(typeof o.tpm?.info === 'function', 'tpm', 'must be an opened Tpm');
  need(o.selfTest === undefined || typeof o.selfTest === 'function', 'selfTest', 'must be a function when given');
  need(o.signer instanceof SealSigner, 'signer', 'must be the SealSigner built from this journal and the sealing key');
  need(typeof o.transport?.subscribe === 'function' && typeof o.transport?.publishSeal === 'function', 'transport', 'must be an MqttTransport');
  need(typeof o.topics?.seals === 'function', 'topics', 'must come from topicsFor(prefix)');
  need(typeof o.journal?.checkAndRecord === 'function', 'journal', 'must be an open seal journal');
  need(typeof o.gate?.current === 'function', 'gate', 'must be a SealGate');
  need(typeof o.network?.offer === 'function' && typeof o.network?.onChange === 'function', 'network', 'must be a NetworkState');
  need(o.sealingHandle === undefined || Number.isInteger(o.sealingHandle), 'sealingHandle', 'must be a TPM handle number');
}
