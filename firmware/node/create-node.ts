// One secondary node, assembled in one place: `btn-node run` (and so the device image) and both
// devnets build their nodes here, so the reference network runs exactly the production wiring.
// What a deployment varies comes in as options: the opened TPM (its TCTI), the broker connection,
// the state directory, and how the node is trusted (a root node, or an unprovisioned devnet).
import type { Logger } from 'pino';
import { ActivationGate } from '../activation/gate.ts';
import { VerifyPool, type BatchVerifier } from '../protocol/chain/verify-pool.ts';
import { createAgent, type SecondaryAgent } from '../agent/agent.ts';
import { FaultBoard, JOURNAL_FAULT_KEY, JOURNAL_ROLLBACK_FAULT_KEY, NETWORK_FAULT_KEY } from '../agent/faults.ts';
import { writeStatusReported } from '../agent/status.ts';
import { openNodeHistory, type NodeHistory } from './node-history.ts';
import type { NodeStatus } from '../status/index.ts';
import { EventLoopWatch } from '../status/event-loop.ts';
import type { BackoffOptions } from '../core/backoff.ts';
import { RegistrationAuthority } from '../protocol/registration-authority.ts';
import type { RootKeys } from '../protocol/root-keys.ts';
import type { SealAuthority } from '../protocol/seal-check.ts';
import { alwaysActive, neverActive, type GateState, type SealGate } from '../sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../sealing/journal.ts';
import { RecoveringJournal } from '../sealing/journal-recovery.ts';
import { describeRollback, tpmSealCounter } from '../sealing/journal-anchor.ts';
import { SealSigner } from '../sealing/seal-signer.ts';
import type { MqttTransport } from '../transport/mqtt-transport.ts';
import { sealingKeySelfTest, type SealingKeyInfo, type Tpm } from '../../tpm/index.ts';
import { join } from 'node:path';
import { MANIFEST_FILE, NetworkState, type NetworkSource } from './network-state.ts';
import { fetchManifestFromRoot } from './manifest-fetch.ts';
import { BrokerCredentialKeeper } from './broker-credential-keeper.ts';

/** Revocation lists grow by one short entry per revoked node; 4 MiB holds about 20,000. */
import { revocationListMessage } from '../protocol/revocation-list.ts';
export { MAX_REVOCATION_LIST_BYTES } from '../protocol/revocation-list.ts';

/** How the node is trusted and activated. */
export type NodeTrust =
  | {
    /** A provisioned network: activation through the root node, whose key the node believes. */
    readonly kind: 'root';
    readonly url: string;
    /** The root's Ed25519 public key (32 bytes). */
    readonly publicKey: Uint8Array;
    readonly revocationPollMs?: number;
    readonly timeoutMs?: number;
    readonly backoff?: BackoffOptions;
  }
  /** An unprovisioned devnet: always active, and any qualifying seal counts (anyone on the broker can stop it). */
  | { readonly kind: 'unprovisioned' }
  /** No root configured: the node never seals, and says why. */
  | { readonly kind: 'none'; readonly reason: string };

export interface NodeOptions {
  readonly nodeId: string;
  /** Opened, with the sealing key ensured; the caller closes it after stop(). */
  readonly tpm: Tpm;
  readonly sealingKey: SealingKeyInfo;
  /** Created and started by the caller, closed by the caller after stop(). */
  readonly transport: MqttTransport;
  readonly journalPath: string;
  /** activation.json and status.json live here. */
  readonly stateDir: string;
  readonly trust: NodeTrust;
  /** Where the network's terms come from: manifests signed by the root key, or terms pinned by an unprovisioned devnet's config. */
  readonly network: NetworkSource;
  readonly logger: Logger;
  /** Faults shown on the status page (full disk, ...); shared with the caller's start-up. */
  readonly faults?: FaultBoard;
  /** A journal the caller already opened (run opens it while waiting for the disk); opened here otherwise. */
  readonly journal?: SealJournal;
  /** NV index of the TPM's seal counter (default 0x01000B70). */
  readonly counterIndex?: number;
  readonly statusIntervalMs?: number;
  /** Quieter activation logs for nodes that fail by design (the devnet's unfiled ones). */
  readonly activationLogger?: Logger;
  /** Where candidates' transactions are hashed and verified; default a VerifyPool of the node's own (one worker per core), closed at stop(). */
  readonly verifier?: BatchVerifier;
  /** The broker password the transport was created with (from an earlier activation), if any. */
  readonly brokerPasswordInUse?: string;
}

export interface SecondaryNode {
  readonly nodeId: string;
  readonly agent: SecondaryAgent;
  readonly gate: SealGate & { onChange?(fn: (s: GateState) => void): () => void };
  /** The activation gate when the node is trusted through a root node. */
  readonly activation: ActivationGate | null;
  readonly sealAuthority: SealAuthority | null;
  readonly network: NetworkState;
  /** Its hourly history and recent blocks (<stateDir>/history.json), for the status page and Home Assistant. */
  readonly history: NodeHistory;
  /** Stored activation state first, then revocation lists, then candidates. */
  start(): Promise<void>;
  /** Stops the agent and the gate, gives the lottery key back and closes the journal (the TPM and transport stay the caller's). */
  stop(): Promise<void>;
  status(): NodeStatus;
}

/** The activation gate of a node trusted through a root node (also for the devnet's deliberately tampered stand-ins). */
export function activationGate(
  trust: Extract<NodeTrust, { kind: 'root' }>,
  deps: { readonly tpm: Tpm; readonly sealingKey: SealingKeyInfo; readonly stateDir: string; readonly logger: Logger; readonly rootKeys?: () => RootKeys | null },
  onRevocationList?: (raw: unknown) => void,
): ActivationGate {
  return new ActivationGate({
    rootUrl: trust.url, rootPublicKey: trust.publicKey, ...(deps.rootKeys === undefined ? {} : { rootKeys: deps.rootKeys }), tpm: deps.tpm, stateDir: deps.stateDir, handle: deps.sealingKey.handle, logger: deps.logger,
    ...(trust.revocationPollMs === undefined ? {} : { revocationPollMs: trust.revocationPollMs }),
    ...(trust.timeoutMs === undefined ? {} : { client: { timeoutMs: trust.timeoutMs } }),
    ...(trust.backoff === undefined ? {} : { backoff: trust.backoff }),
    ...(onRevocationList === undefined ? {} : { onRevocationList }),
  });
}

export async function createNode(o: NodeOptions): Promise<SecondaryNode> {
  const log = o.logger;
  const faults = o.faults ?? new FaultBoard(log);
  // Anchored in the TPM: a reopen compares the file with the seal counter again.
  const reopen = (): Promise<SealJournal> => openSealJournal(o.journalPath, { logger: log, counter: tpmSealCounter(o.tpm, o.counterIndex) });
  const first = o.journal ?? await reopen();
  // A disk that fills up or turns read-only later: no seal on an unwritten decision, and the
  // journal comes back by itself once it can be written again (no restart).
  const journal = new RecoveringJournal(first, {
    reopen, logger: log,
    onHealth: (h) => (h.ok ? faults.clear(JOURNAL_FAULT_KEY, 'writable again; sealing resumes') : faults.raise(JOURNAL_FAULT_KEY, h.code, h.message, { file: o.journalPath })),
  });
  // Lost records (the TPM counter is ahead of the file) are a fault on the status page until a
  // final block is above every height they could cover; it ends by itself.
  journal.watchRollback((r) => (r === null
    ? faults.clear(JOURNAL_ROLLBACK_FAULT_KEY, 'a final block is above every height the lost records could cover; sealing again')
    : faults.raise(JOURNAL_ROLLBACK_FAULT_KEY, 'ERR_JOURNAL_ROLLBACK', describeRollback(r), { file: o.journalPath, ...r })));
  const trust = o.trust;
  if (trust.kind === 'unprovisioned') {
    log.warn('unprovisioned network: no root key, so any seal whose ticket qualifies counts as competition; anyone who can publish on this broker can stop the network');
  }
  // The newest manifest accepted survives restarts beside the activation state; the root keys it
  // names (a rotation's window) are the ones registrations and revocation lists verify under.
  const network = await NetworkState.open({ source: o.network, file: join(o.stateDir, MANIFEST_FILE), logger: log });
  const rootKeys = (): RootKeys | null => network.rootKeys;
  const authority = trust.kind === 'root' ? new RegistrationAuthority({ rootPublicKey: trust.publicKey, rootKeys, logger: log }) : null;
  const activation = trust.kind === 'root'
    ? activationGate(trust, { tpm: o.tpm, sealingKey: o.sealingKey, stateDir: o.stateDir, logger: o.activationLogger ?? log, rootKeys },
      // One poll feeds both: this node's own revocation and the seals it counts as competition.
      (raw) => void authority!.applyRevocationList(raw))
    : null;
  // The broker identity the TPM released: handed to the transport once activation writes it; an
  // active node whose credential is lost or refused re-activates for a new one.
  const keeper = activation === null ? null : new BrokerCredentialKeeper({
    stateDir: o.stateDir, gate: activation, transport: o.transport, logger: log,
    ...(o.brokerPasswordInUse === undefined ? {} : { using: o.brokerPasswordInUse }),
  });
  const gate = activation ?? (trust.kind === 'unprovisioned' ? alwaysActive(o.nodeId) : neverActive(o.nodeId, trust.kind === 'none' ? trust.reason : ''));
  // Without terms the node can check nothing: the status page and the light say it is waiting.
  if (network.current === null) {
    faults.raise(NETWORK_FAULT_KEY, 'ERR_NETWORK_MANIFEST', 'waiting for the network manifest (signed by the root; from the root node or the broker)');
    const off = network.onChange(() => {
      off();
      faults.clear(NETWORK_FAULT_KEY, 'network manifest taken; checking candidates');
    });
  }
  // The sealing key signs lottery messages only through this, and only for recorded decisions;
  // the agent sees the TPM only through info().
  const signer = new SealSigner(journal, o.tpm, o.sealingKey.handle, log);
  // A large candidate's per-transaction work (ids, Merkle root, signatures) runs on worker
  // threads, so the event loop stays free for the broker, the journal and the TPM.
  const ownPool = o.verifier === undefined ? new VerifyPool() : null;
  const eventLoop = new EventLoopWatch();
  let agent: SecondaryAgent;
  try {
    agent = createAgent({
      nodeId: o.nodeId, tpm: { info: (opts) => o.tpm.info(opts) }, selfTest: () => sealingKeySelfTest(o.tpm, { handle: o.sealingKey.handle }), signer, sealingHandle: o.sealingKey.handle, transport: o.transport, topics: o.transport.topics, journal, gate,
      network, logger: log, stateDir: o.stateDir, sealAuthority: authority, verifier: o.verifier ?? ownPool!,
      faults, eventLoop: () => eventLoop.snapshot(),
      ...(o.statusIntervalMs === undefined ? {} : { statusIntervalMs: o.statusIntervalMs }),
    });
  } catch (err) {
    eventLoop.stop();
    network.close();
    signer.close();
    await ownPool?.close();
    await journal.close().catch(() => undefined);
    throw err;
  }
  // Blocks tested, seals, rounds and the system facts by the hour, and the recent blocks, for the page.
  const history = await openNodeHistory({ stateDir: o.stateDir, agent, logger: log });
  const unsubscribes: (() => void)[] = [];
  return {
    nodeId: o.nodeId, agent, gate, activation, sealAuthority: authority, network, history,
    async start() {
      // Stored activation state is applied before the agent can take up a candidate.
      await activation?.start();
      keeper?.start();
      // The root (or a clerk) may also push the signed revocation list, retained, on the broker:
      // a revoked node then stops without waiting for its next poll, and so do seals it counts.
      if (activation !== null) {
        unsubscribes.push(o.transport.subscribe(o.transport.topics.revocations, (m) => {
          authority!.applyRevocationList(m.value);
          activation.applyRevocationList(m.value).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'pushed revocation list refused'));
        }, { schema: revocationListMessage }));
      }
      await agent.start();
      history.start();
      // The root serves the manifest too: a node whose broker lost the retained copy still gets
      // it, and a household's node needs nothing but the root's URL and key to start.
      if (trust.kind === 'root' && o.network.kind === 'signed') {
        unsubscribes.push(fetchManifestFromRoot({ url: trust.url, network, logger: log, everyMs: trust.revocationPollMs, ...(trust.timeoutMs === undefined ? {} : { timeoutMs: trust.timeoutMs }) }));
      }
      // status.json follows activation and faults at once, not only every few seconds.
      const rewrite = (): void => void writeStatusReported(o.stateDir, agent.status(), faults);
      if (activation !== null) unsubscribes.push(activation.onChange(rewrite));
      unsubscribes.push(faults.onChange(rewrite));
    },
    async stop() {
      for (const u of unsubscribes.splice(0)) u();
      try {
        await keeper?.stop();
        await agent.stop().catch((err: unknown) => log.warn({ err: String(err) }, 'agent stop failed'));
        await history.stop();
        await activation?.stop().catch((err: unknown) => log.warn({ err: String(err) }, 'activation gate stop failed'));
      } finally {
        eventLoop.stop();
        network.close();
        signer.close();
        await ownPool?.close();
        await journal.close().catch(() => undefined);
      }
    },
    status: () => agent.status(),
  };
}
