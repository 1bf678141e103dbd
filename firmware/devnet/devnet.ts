// A whole network on one machine (docs/components.md, embedded defaults): an MQTT broker (in-process
// aedes unless a broker URL is given), N swtpm TPMs each with its own state, one agent per TPM
// with its own seal journal, and the reference primary node; runs until K blocks are final and
// then removes everything it started (also on errors, SIGINT and SIGTERM).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import type { PrimaryKeySet } from '../protocol/chain/primaries.ts';
import type { ChainTip } from '../protocol/chain/validate.ts';
import { paramsMessage, type NetworkParams } from '../protocol/params.ts';
import { candidateByteCaps, type CandidateEncoding } from '../protocol/chain/candidate-wire.ts';
import { createMqttTransport, topicsFor, type MqttTransport, type Topics } from '../transport/index.ts';
import { openTpm, type SealingKeyInfo, type Tpm } from '../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../tpm/swtpm.ts';
import { createClerks, type Clerk } from './clerks.ts';
import { clientUrls, openDevnetBroker, type DevnetBroker, type DevnetBrokerChoice } from './devnet-broker.ts';
import { DevnetError } from './errors.ts';
import type { RootKey, SignedNetworkSource } from './network-keys.ts';
import type { SignedManifest } from '../protocol/network-manifest.ts';
import { genesisTip, PrimaryNode, type FinalBlockRecord, type PrimaryEvent, type PrimaryStats } from './primary.ts';
import { StaticSealAuthority, type SealAuthority } from '../protocol/seal-check.ts';
import { TxGenerator } from './tx-generator.ts';
import { spkiOf } from '../protocol/identity.ts';
import { toHex } from '../core/bytes.ts';

/**
 * Defaults chosen so that 3 nodes x 5 blocks end in seconds on 2 cores with swtpm: with
 * sealZeros 3 a node qualifies in 1 round of 8, so 3 nodes seal in about 2-3 rounds of 150 ms;
 * clerkZeros 1 lets one of 3 clerks win round 0 7 times in 8. The deadline covers 53 rounds:
 * even a single node misses it with probability 0.875^53 (under 0.1%), and then the height is redrawn.
 */
export const DEVNET_PARAMS: NetworkParams = {
  version: 1,
  sealZeros: 3,
  clerkZeros: 1,
  spinIntervalMs: 150,
  maxRounds: 64,
  sealDeadlineMs: 8000,
  timestampWindowMs: 30_000,
  maxBlockTxs: 10_000,
  maxBlockBytes: 8 * 1024 * 1024,
};

/**
 * Every node of a devnet verifies every block on this one machine: each transaction costs a
 * node about 0.1 ms of one core, so a big block gets five times that per node and transaction
 * above 100 on top of the default deadline (10,000 transactions on 3 nodes: 8 s + 15 s), and no
 * seal is late because the nodes share the cores.
 */
export function devnetSealDeadline(nodes: number, txPerBlock: number, broker: DevnetBrokerChoice['kind'] = 'in-process'): number {
  const base = DEVNET_PARAMS.sealDeadlineMs + Math.ceil(nodes * Math.max(0, txPerBlock - 100) * 0.5);
  // A nats-server cluster that loses a member stalls 10-25 s while it moves its JetStream leaders
  // (README, "A broker cluster"): a height's seals must outlast that or it is drawn again and again.
  return broker === 'nats-cluster' ? Math.max(base, CLUSTER_FAILOVER_DEADLINE_MS) : base;
}

/** The seal deadline a devnet on a nats-server cluster needs to ride out the loss of a member. */
export const CLUSTER_FAILOVER_DEADLINE_MS = 30_000;

export const MAX_NODES = 32;
export const MAX_BLOCKS = 10_000;

/** What the devnet hands an agent factory for one node. */
export interface AgentContext {
  readonly nodeId: string;
  readonly tpm: Tpm;
  readonly sealingKey: SealingKeyInfo;
  /** Started by the devnet after the agent exists; closed by the devnet. */
  readonly transport: MqttTransport;
  readonly topics: Topics;
  /** Where this node's seal journal lives (its directory exists). */
  readonly journalPath: string;
  readonly primaries: PrimaryKeySet;
  readonly genesis: ChainTip & { readonly timestamp: number };
  readonly params: NetworkParams;
  /** What the node trusts for the network's terms and final blocks: manifests signed by the run's root key. */
  readonly network: SignedNetworkSource;
  readonly logger: Logger;
  /** This node's directory (TPM state, journal, status file). */
  readonly stateDir: string;
  /** What the agent reports (rejected candidates, errors) goes into the devnet's events. */
  readonly report: (r: AgentReport) => void;
}

export interface AgentReport {
  readonly kind: 'rejected' | 'error';
  readonly code: string;
  readonly message: string;
  readonly height?: number;
}

export interface DevnetAgent {
  start(): unknown;
  stop(): unknown;
}

export type AgentFactory = (context: AgentContext) => DevnetAgent | Promise<DevnetAgent>;

export interface DevnetOptions {
  readonly nodes: number;
  readonly blocks: number;
  /** mqtt://host:port of a running broker (mosquitto); without it an in-process aedes broker. */
  readonly brokerUrl?: string;
  /**
   * Start a real mosquitto with TLS and dynamic security instead (devnet-broker.ts): every client
   * has an account, and a provisioned node gets its own at activation, through its TPM.
   */
  readonly secureBroker?: boolean;
  /** Any broker choice (devnet-broker.ts), e.g. a nats-server cluster; excludes brokerUrl and secureBroker. */
  readonly broker?: DevnetBrokerChoice;
  /**
   * The name a node goes by on the broker (its status topic, its account); default its label
   * (node-1, ...). A provisioned devnet passes the id the root assigns (the broker pins a node's
   * topics to it).
   */
  readonly brokerNodeId?: (label: string, sealingKey: SealingKeyInfo) => string;
  /** Nodes get their broker accounts at activation (the provisioned devnet); otherwise a secure broker's accounts are made here. */
  readonly accountsAtActivation?: boolean;
  /** Kept after the run when given; a temporary directory (removed) otherwise. */
  readonly stateDir?: string;
  readonly params?: Partial<NetworkParams>;
  /** Clerks in the committee (default 3), or the clerks themselves (tests that sign votes with their keys). */
  readonly clerks?: number | readonly Clerk[];
  /** The network's name in its manifest and votes (default 'devnet'). */
  readonly network?: string;
  /** The root key that signs the network manifest (default: a fresh one per run). */
  readonly root?: RootKey;
  readonly txPerBlock?: number;
  /** How the primary sends candidates (default binary; JSON for tools). */
  readonly candidateEncoding?: CandidateEncoding;
  readonly agentFactory: AgentFactory;
  readonly logger?: Logger;
  readonly onEvent?: (event: DevnetEvent) => void;
  readonly signal?: AbortSignal;
  /** Abort on SIGINT/SIGTERM and clean up (default true). */
  readonly handleSignals?: boolean;
  /**
   * Where the clerks get the sealing key they trust for a seal (default: a StaticSealAuthority with
   * the keys of the TPMs this run started). The provisioned devnet passes a RegistrationAuthority.
   */
  readonly authority?: SealAuthority;
  /**
   * Runs once every TPM has its sealing key and before any agent starts (the provisioned devnet
   * enrolls the TPMs at its factory station and files the batch with its root node here).
   */
  readonly beforeAgents?: (context: BeforeAgentsContext) => Promise<void>;
}

/** What `beforeAgents` gets: the TPMs (opened, sealing key ensured) and the run's shared parts. */
export interface BeforeAgentsContext {
  readonly nodes: readonly { readonly nodeId: string; readonly tpm: Tpm; readonly tcti: string; readonly sealingKey: SealingKeyInfo; readonly stateDir: string }[];
  /** The run's state directory (exists). */
  readonly stateDir: string;
  /** Directory of the swtpm CA that issued every EK certificate of this run (PEM files). */
  readonly caDir: string;
  readonly topics: Topics;
  /** The primary node's connection (e.g. to publish retained revocation lists). */
  readonly transport: MqttTransport;
  /** The run's broker: a secure one has accounts the root node manages. */
  readonly broker: DevnetBroker;
  /** The root-signed manifest the primary publishes (a root node serves it over HTTP too). */
  readonly manifest: SignedManifest;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export type DevnetEvent =
  | PrimaryEvent
  | { readonly type: 'params'; readonly params: NetworkParams }
  | { readonly type: 'broker'; readonly url: string; readonly members?: readonly string[]; readonly kind: DevnetBroker['kind']; readonly prefix: string; readonly stateDir: string; readonly removeAtEnd: boolean }
  | { readonly type: 'node'; readonly nodeId: string; readonly publicKeyPem: string; readonly tcti: string; readonly msToStart: number }
  | { readonly type: 'ready'; readonly nodes: number; readonly clerks: readonly string[]; readonly quorum: number }
  | ({ readonly type: 'agent'; readonly nodeId: string } & AgentReport);

export interface DevnetResult {
  readonly params: NetworkParams;
  /** What the run's nodes trust (network name, root public key). */
  readonly network: SignedNetworkSource;
  readonly blocks: readonly FinalBlockRecord[];
  /** True when every requested block is final. */
  readonly ok: boolean;
  readonly stats: PrimaryStats;
  readonly nodes: readonly { readonly nodeId: string; readonly publicKeyPem: string }[];
}

interface Node {
  readonly nodeId: string;
  swtpm?: SwtpmInstance;
  tpm?: Tpm;
  sealingKey?: SealingKeyInfo;
  msToStart?: number;
  transport?: MqttTransport;
  agent?: DevnetAgent;
}

export async function runDevnet(options: DevnetOptions): Promise<DevnetResult> {
  const { nodes: n, blocks } = options;
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODES) throw new DevnetError('ERR_DEVNET_OPTIONS', `nodes must be an integer in 1..${MAX_NODES}, got ${n}`);
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > MAX_BLOCKS) throw new DevnetError('ERR_DEVNET_OPTIONS', `blocks must be an integer in 1..${MAX_BLOCKS}, got ${blocks}`);
  if (typeof options.agentFactory !== 'function') throw new DevnetError('ERR_DEVNET_AGENT_MISSING', 'runDevnet needs an agentFactory');
  let params: NetworkParams;
  try {
    params = paramsMessage.read({ ...DEVNET_PARAMS, sealDeadlineMs: devnetSealDeadline(n, options.txPerBlock ?? 4, options.broker?.kind), ...options.params });
  } catch (cause) {
    throw new DevnetError('ERR_DEVNET_OPTIONS', `invalid network parameters: ${(cause as Error).message}`, {}, { cause });
  }
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'devnet' });
  const emit = (e: DevnetEvent): void => options.onEvent?.(e);
  emit({ type: 'params', params });

  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      // A second Ctrl-C while cleaning up: the person wants out now.
      log.error({ signal: sig }, 'second signal: exiting without finishing the cleanup');
      process.exit(130);
    }
    log.warn({ signal: sig }, 'stopping the devnet');
    abort.abort();
  };
  const onOuterAbort = (): void => abort.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted) abort.abort();
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  const ownsRoot = options.stateDir === undefined;
  let root: string | null = null;
  let broker: DevnetBroker | null = null;
  let choice: DevnetBrokerChoice | null = null;
  let primaryTransport: MqttTransport | null = null;
  let primary: PrimaryNode | null = null;
  const started: Node[] = [];
  try {
    const checkAborted = (): void => {
      if (abort.signal.aborted) throw new DevnetError('ERR_DEVNET_ABORTED', 'the devnet was stopped before it was ready');
    };
    root = ownsRoot ? await mkdtemp(join(tmpdir(), 'btn-devnet-')) : resolve(options.stateDir!);
    await mkdir(root, { recursive: true });
    const runId = toHex(randomBytes(4));
    // A run of its own under the prefix: retained messages of earlier runs on a shared broker never mix in.
    const topics = topicsFor(`btn/devnet-${runId}`);
    if ([options.secureBroker === true, options.brokerUrl !== undefined, options.broker !== undefined].filter(Boolean).length > 1) {
      throw new DevnetError('ERR_DEVNET_OPTIONS', 'a broker URL, a secure broker and a broker choice exclude each other');
    }
    choice = options.broker ?? (options.secureBroker === true ? { kind: 'mosquitto' } : options.brokerUrl !== undefined ? { kind: 'url', url: options.brokerUrl } : { kind: 'in-process' });
    broker = await openDevnetBroker(choice, { dir: root, prefix: topics.prefix, logger: log });
    const url = broker.url;
    emit({ type: 'broker', url, ...(broker.members === undefined ? {} : { members: broker.members }), kind: broker.kind, prefix: topics.prefix, stateDir: root, removeAtEnd: ownsRoot });
    log.info({ url, kind: broker.kind, root }, 'broker');
    const protocol = broker.protocol;
    const tls = broker.ca === undefined ? {} : { ca: broker.ca };

    const clerks = typeof options.clerks === 'object' ? [...options.clerks] : createClerks(options.clerks ?? 3);
    const genesis = genesisTip(runId, Date.now());
    const staticAuthority = options.authority === undefined ? new StaticSealAuthority() : null;
    const authority = options.authority ?? staticAuthority!;
    const caDir = join(root, 'swtpm-ca');
    // Primary first, so that the primaries set exists for the agents; it starts drawing only later.
    // The primary sends what the parameters allow: a full block as JSON at its largest.
    const maxOutboundBytes = candidateByteCaps({ maxTxs: params.maxBlockTxs, maxBlockBytes: params.maxBlockBytes }).json;
    primaryTransport = createMqttTransport({
      ...clientUrls(broker, 0), nodeId: 'primary', clientId: `btn-primary-${runId}`, prefix: topics.prefix, protocol, status: false, logger: log, maxOutboundBytes, ...tls, ...broker.primary,
    });
    primaryTransport.start();
    primary = new PrimaryNode({
      transport: primaryTransport, topics, params, clerks, authority, genesis, transactions: new TxGenerator({ seed: `btn-devnet/${runId}` }),
      ...(options.txPerBlock === undefined ? {} : { txPerBlock: options.txPerBlock }), logger: log, onEvent: emit,
      ...(options.candidateEncoding === undefined ? {} : { candidateEncoding: options.candidateEncoding }),
      ...(options.network === undefined ? {} : { network: options.network }), ...(options.root === undefined ? {} : { root: options.root }),
    });
    // The signed manifest goes out (retained) before any agent starts: an agent may wait for it.
    await withAbort(primary.start(), abort.signal);

    const nodeKeys: { nodeId: string; publicKeyPem: string }[] = [];
    // swtpm emulators: the first alone (it creates the devnet's CA), then two at a time
    // (swtpm_setup is CPU-bound; swtpm_localca serializes certificate serials with a lock file).
    const emulatorStart = async (node: Node): Promise<void> => {
      checkAborted();
      const t0 = Date.now();
      node.swtpm = await startSwtpm({ caDir, stateDir: join(root!, node.nodeId, 'tpm') });
      node.msToStart = Date.now() - t0;
    };
    for (let i = 1; i <= n; i++) started.push({ nodeId: `node-${i}` });
    await emulatorStart(started[0]!);
    await settleAll(started.slice(1), 2, emulatorStart);
    for (const node of started) {
      checkAborted();
      // One ESYS context set up at a time: opening several at once crashed the binding here
      // (Esys_FlushContext "called in the wrong order" thrown out of ensureSealingKey).
      const t0 = Date.now();
      node.tpm = await openTpm({ tcti: node.swtpm!.tcti });
      node.sealingKey = await node.tpm.ensureSealingKey();
      node.msToStart = (node.msToStart ?? 0) + Date.now() - t0;
      staticAuthority?.register(node.nodeId, node.sealingKey.publicKeyPem);
    }
    if (options.beforeAgents !== undefined) {
      await withAbort(options.beforeAgents({
        nodes: started.map((node) => ({ nodeId: node.nodeId, tpm: node.tpm!, tcti: node.swtpm!.tcti, sealingKey: node.sealingKey!, stateDir: join(root!, node.nodeId) })),
        stateDir: root, caDir, topics, transport: primaryTransport, broker, manifest: primary.manifest, logger: log, signal: abort.signal,
      }), abort.signal);
    }
    for (const [i, node] of started.entries()) {
      checkAborted();
      const sealingKey = node.sealingKey!;
      const nodeLog = log.child({ node: node.nodeId });
      const brokerId = options.brokerNodeId?.(node.nodeId, sealingKey) ?? node.nodeId;
      // A provisioned node gets its account at activation (its node takes the credential from
      // there); an unprovisioned one has none to activate with, so the devnet makes it one.
      const account = options.accountsAtActivation === true ? undefined : await broker.nodeCredentials?.(brokerId);
      node.transport = createMqttTransport({
        ...clientUrls(broker, i + 1), nodeId: brokerId, sealingKeySpki: spkiOf(sealingKey.publicKeyPem), prefix: topics.prefix, protocol, logger: nodeLog, ...tls, ...account,
      });
      // Connecting first: an agent's start() may wait until its transport is online.
      node.transport.start();
      node.agent = await options.agentFactory({
        nodeId: node.nodeId, tpm: node.tpm!, sealingKey, transport: node.transport, topics, journalPath: join(root, node.nodeId, 'seal-journal'),
        primaries: primary.primaries, genesis, params, network: primary.keys.source, logger: nodeLog, stateDir: join(root, node.nodeId),
        report: (r) => emit({ type: 'agent', nodeId: node.nodeId, ...r }),
      });
      await withAbort(Promise.resolve(node.agent.start()), abort.signal);
      nodeKeys.push({ nodeId: node.nodeId, publicKeyPem: sealingKey.publicKeyPem });
      emit({ type: 'node', nodeId: node.nodeId, publicKeyPem: sealingKey.publicKeyPem, tcti: node.swtpm!.tcti, msToStart: node.msToStart ?? 0 });
    }
    await Promise.all([primaryTransport, ...started.map((s) => s.transport!)].map((t) => withAbort(t.online(), abort.signal)));
    checkAborted();
    emit({ type: 'ready', nodes: n, clerks: clerks.map((c) => c.fingerprint), quorum: primary.committee.quorum });
    const records = await primary.produce(blocks, abort.signal);
    const ok = records.length === blocks && records.every((r) => r.final);
    return { params, network: primary.keys.source, blocks: records, ok, stats: primary.stats(), nodes: nodeKeys };
  } finally {
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    options.signal?.removeEventListener('abort', onOuterAbort);
    await cleanup(log, {
      primary, primaryTransport, nodes: started, broker, root: ownsRoot ? root : null, clearRetained: outlivesRun(choice),
    });
  }
}

/** A broker that is not the run's own keeps what the run retained unless the run clears it. */
function outlivesRun(choice: DevnetBrokerChoice | null): boolean {
  return choice?.kind === 'url' || (choice?.kind === 'nats-cluster' && choice.cluster !== undefined);
}

async function cleanup(log: Logger, s: { primary: PrimaryNode | null; primaryTransport: MqttTransport | null; nodes: Node[]; broker: DevnetBroker | null; root: string | null; clearRetained: boolean }): Promise<void> {
  const quietly = async (what: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      log.warn({ err: (err as Error).message, what }, 'cleanup step failed');
    }
  };
  // Agents first, so that nothing seals against a primary that is going away.
  await Promise.all(s.nodes.map((node) => quietly(`agent ${node.nodeId}`, () => node.agent?.stop())));
  await quietly('primary', () => s.primary?.stop({ clearRetained: s.clearRetained }));
  await Promise.all([s.primaryTransport, ...s.nodes.map((node) => node.transport)].map((t) => quietly('transport', () => t?.close())));
  await Promise.all(s.nodes.map((node) => quietly(`tpm ${node.nodeId}`, () => node.tpm?.close())));
  await Promise.all(s.nodes.map((node) => quietly(`swtpm ${node.nodeId}`, () => node.swtpm?.destroy())));
  await quietly('broker', () => s.broker?.close());
  if (s.root !== null) await quietly('state dir', () => rm(s.root!, { recursive: true, force: true }));
}

/** Runs fn over items, `limit` at a time; waits for every call, then throws the first failure (nothing left running). */
async function settleAll<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === null) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
}


function withAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new DevnetError('ERR_DEVNET_ABORTED', 'the devnet was stopped'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new DevnetError('ERR_DEVNET_ABORTED', 'the devnet was stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); });
  });
}
