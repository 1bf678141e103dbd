// The provisioned devnet: the whole anti-Sybil path of docs/activation.md on one machine. The run's
// root node (registrar on SQLite, provisioned-root.ts) files every swtpm through the factory
// station in one signed batch; each agent activates itself through firmware/activation
// (MakeCredential at the root, ActivateCredential on its own swtpm) and seals only behind its
// ActivationGate; the clerks trust a seal's key only from its root-signed registration
// (RegistrationAuthority). Optionally one node is revoked after a given final height.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import type { RejectedEvent } from '../agent/index.ts';
import { activationGate, createNode, type SecondaryNode } from '../node/index.ts';
import { ActivationGate } from '../activation/gate.ts';
import { nodeIdFromSpki } from '../protocol/identity.ts';
import { publicKeySpki } from '../../tpm/public-area.ts';
import type { GateState } from '../sealing/gate.ts';
import type { MqttTransport, Topics } from '../transport/index.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { runDevnet, type AgentContext, type BeforeAgentsContext, type DevnetAgent, type DevnetEvent, type DevnetOptions, type DevnetResult } from './devnet.ts';
import { DevnetError } from './errors.ts';
import type { FinalBlockRecord } from './primary-types.ts';
import { startProvisionedRoot, type ProvisionedRoot } from './provisioned-root.ts';
import { RegistrationAuthority, type RegistrationAuthorityStats } from '../protocol/registration-authority.ts';
import { toHex } from '../core/bytes.ts';
import { NetworkState } from '../node/network-state.ts';
import { announceRootRotation } from './root-rotation.ts';

export interface ProvisionedDevnetOptions extends Omit<DevnetOptions, 'agentFactory' | 'authority' | 'beforeAgents' | 'onEvent' | 'root'> {
  /** After the block at this height is final, the root revokes this node (a label: node-1, node-2, ...). */
  readonly revokeAfter?: { readonly height: number; readonly node: string; readonly reason?: string };
  /** Nodes never enrolled at the factory (not filed): they never activate, never seal. */
  readonly unfiled?: readonly string[];
  /** Nodes filed but whose device cannot reach the root (never activated): they never seal. */
  readonly offline?: readonly string[];
  /** How often each device fetches the revocation list once active (default 1000 ms). */
  readonly deviceRevocationPollMs?: number;
  /** How often the clerks fetch it (default 1000 ms; they also follow topics.revocations). */
  readonly clerkRevocationPollMs?: number;
  /** A filed node must be active this long after its agent starts (default 30 s). */
  readonly activationTimeoutMs?: number;
  readonly onEvent?: (event: DevnetEvent | ProvisionedEvent) => void;
  /** The root key (tests that sign manifests with it); a fresh one per run by default. */
  readonly rootKey?: Ed25519Key;
  /**
   * After the block at this height is final, the root announces its next key (a fresh one) in a
   * manifest signed by the current key; the window opens `opensInMs` later (default 1000) and
   * lasts the shortest overlap. The registrar signs with the new key from then and nodes renew.
   */
  readonly rotateRootAfter?: { readonly height: number; readonly opensInMs?: number };
  /**
   * Tests: run something else than the real agent for a node (e.g. a tampered device that keeps
   * sealing after its revocation). It still activates through its ActivationGate first.
   */
  readonly agentOverride?: (node: string, context: AgentContext & { readonly registeredId: string; readonly gate: ActivationGate }) => DevnetAgent | undefined;
}

export type ProvisionedEvent =
  /** Before anything else: the key every registration, revocation list and the network manifest verify under (hex). */
  | { readonly type: 'root-key'; readonly rootPublicKey: string }
  | { readonly type: 'root'; readonly url: string; readonly msToStart: number }
  | { readonly type: 'filed'; readonly batchId: string; readonly lines: number; readonly filed: number; readonly rejected: number; readonly nodes: readonly string[]; readonly ms: number }
  | { readonly type: 'activation'; readonly node: string; readonly nodeId: string; readonly state: GateState['state']; readonly reason?: string; readonly msSinceStart: number }
  | { readonly type: 'revoked'; readonly node: string; readonly nodeId: string; readonly afterHeight: number; readonly version: number; readonly ms: number }
  /** The root announced its next key (hex) with its window (Unix ms). */
  | { readonly type: 'root-rotation'; readonly afterHeight: number; readonly version: number; readonly next: string; readonly from: number; readonly until: number };

export interface ProvisionedNodeReport {
  readonly node: string;
  readonly nodeId: string;
  readonly filed: boolean;
  /** From the agent's start to an active gate; null when it never became active. */
  readonly msToActive: number | null;
  /** The gate's state when the run ended. */
  readonly finalState: GateState['state'];
  readonly reason?: string;
}

/** Block records of a provisioned run: each seal also carries the registration it was accepted under. */
export interface ProvisionedDevnetResult extends DevnetResult {
  readonly rootUrl: string;
  readonly rootPublicKey: string;
  readonly provisioned: readonly ProvisionedNodeReport[];
  /** Activating every filed, reachable node: sum over nodes (they activate one after another). */
  readonly msToActivateAll: number;
  readonly registrations: RegistrationAuthorityStats;
  readonly revocation: { readonly node: string; readonly nodeId: string; readonly afterHeight: number; readonly version: number } | null;
}

export async function runProvisionedDevnet(options: ProvisionedDevnetOptions): Promise<ProvisionedDevnetResult> {
  const unfiled = new Set(options.unfiled ?? []);
  const offline = new Set(options.offline ?? []);
  const labels = Array.from({ length: Number.isInteger(options.nodes) ? Math.max(0, options.nodes) : 0 }, (_, i) => `node-${i + 1}`);
  for (const l of [...unfiled, ...offline, ...(options.revokeAfter === undefined ? [] : [options.revokeAfter.node])]) {
    if (!labels.includes(l)) throw new DevnetError('ERR_DEVNET_OPTIONS', `no node "${String(l).slice(0, 40)}" in this run (nodes: node-1..node-${labels.length})`);
  }
  if (options.revokeAfter !== undefined && (!Number.isInteger(options.revokeAfter.height) || options.revokeAfter.height < 1 || options.revokeAfter.height >= options.blocks)) {
    throw new DevnetError('ERR_DEVNET_OPTIONS', `revoke-after height must be in 1..${options.blocks - 1} (blocks must go on after the revocation)`);
  }
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'provisioned-devnet' });
  const emit = (e: DevnetEvent | ProvisionedEvent): void => options.onEvent?.(e);
  const ownsDir = options.stateDir === undefined;
  const dir = ownsDir ? await mkdtemp(join(tmpdir(), 'btn-devnet-p-')) : resolve(options.stateDir!);

  // The root key exists before the clerks do: they trust nothing else. The same key signs the
  // network manifest, so one root key signs registrations, revocations and the network's terms.
  const rootKey = options.rootKey ?? generateEd25519().key;
  const nextRootKey = options.rotateRootAfter === undefined ? null : generateEd25519().key;
  let root: ProvisionedRoot | null = null;
  let shared: { transport: MqttTransport; topics: Topics } | null = null;
  // What the clerks hold of the network: the root keys (a rotation's window) come from it.
  let clerkTerms: NetworkState | null = null;
  const authority = new RegistrationAuthority({
    rootPublicKey: rootKey.publicKey, logger: log, rootKeys: () => clerkTerms?.rootKeys ?? null, pollMs: options.clerkRevocationPollMs ?? 1000,
    fetchRevocations: () => (root === null ? Promise.reject(new Error('root node not started')) : root.revocations()),
  });
  const reports = new Map<string, { nodeId: string; filed: boolean; msToActive: number | null; gate: ActivationGate | null; finalState?: GateState }>();
  let revocation: ProvisionedDevnetResult['revocation'] = null;
  // A holder, not a let: it is set inside the event callback, which control flow does not follow.
  const revokeTask: { running: Promise<void> | null } = { running: null };
  const rotateTask: { running: Promise<void> | null } = { running: null };

  const beforeAgents = async (ctx: BeforeAgentsContext): Promise<void> => {
    const t0 = Date.now();
    // On a secure broker the root creates each node's account at activation, as a network's root does.
    root = await startProvisionedRoot({
      dir: join(ctx.stateDir, 'root'), trustDir: ctx.caDir, logger: log, rootKey, ...(nextRootKey === null ? {} : { nextRootKey }), ...(ctx.broker.accounts === undefined ? {} : { broker: ctx.broker.accounts }),
    });
    // The root serves the manifest too: a retained copy on the broker can be overwritten by anyone
    // who may publish there, the root's answer cannot.
    await root.store.publishManifest({ network: ctx.manifest.network, version: ctx.manifest.version, manifest: JSON.stringify(ctx.manifest), publishedAt: Date.now() });
    clerkTerms = await NetworkState.open({ source: { kind: 'signed', network: ctx.manifest.network, rootPublicKey: rootKey.publicKey }, logger: log });
    await clerkTerms.offer(ctx.manifest, 'primary');
    emit({ type: 'root', url: root.url, msToStart: Date.now() - t0 });
    const t1 = Date.now();
    // Factory station: one TPM after another into one batch (the station locks the batch file).
    const enrolled: string[] = [];
    for (const n of ctx.nodes) {
      const nodeId = nodeIdFromSpki(publicKeySpki(n.sealingKey.public));
      reports.set(n.nodeId, { nodeId, filed: false, msToActive: null, gate: null });
      if (unfiled.has(n.nodeId)) continue;
      await root.enroll(n.tpm, `DEVNET-${n.nodeId}`);
      enrolled.push(n.nodeId);
    }
    if (enrolled.length > 0) {
      const report = await root.uploadBatch();
      for (const l of enrolled) reports.get(l)!.filed = true;
      emit({ type: 'filed', batchId: report.batchId, lines: report.lines, filed: report.filed, rejected: report.rejected, nodes: enrolled, ms: Date.now() - t1 });
    }
    shared = { transport: ctx.transport, topics: ctx.topics };
    authority.follow(ctx.transport, ctx.topics.revocations);
    await authority.start();
  };

  const agentFactory = async (ctx: AgentContext): Promise<{ start(): Promise<void>; stop(): Promise<void> }> => {
    const label = ctx.nodeId;
    const report = reports.get(label)!;
    const nodeId = report.nodeId;
    const trust = {
      kind: 'root' as const,
      // A device that cannot reach the root: nothing listens on port 9 (discard) here.
      url: offline.has(label) ? 'http://127.0.0.1:9' : root!.url,
      publicKey: rootKey.publicKey,
      revocationPollMs: options.deviceRevocationPollMs ?? 1000,
      // Devnet pace: retry activation within seconds, not minutes.
      backoff: { baseMs: 250, capMs: 2000 }, timeoutMs: 5000,
    };
    // Unfiled and offline nodes fail every attempt by design: not a warning on every retry.
    const activationLogger = (unfiled.has(label) || offline.has(label)) && ctx.logger.level === 'warn' ? ctx.logger.child({}, { level: 'error' }) : ctx.logger;
    // A deliberately tampered device (tests) gets a gate of its own and no real agent.
    const standInGate = options.agentOverride === undefined ? null : activationGate(trust, { ...ctx, logger: activationLogger });
    const custom = standInGate === null ? undefined : options.agentOverride!(label, { ...ctx, registeredId: nodeId, gate: standInGate });
    let node: SecondaryNode | null = null;
    let gate: ActivationGate;
    let agent: { start(): unknown; stop(): unknown };
    if (custom !== undefined) {
      gate = standInGate!;
      agent = custom;
    } else {
      await standInGate?.stop();
      node = await createNode({
        nodeId, tpm: ctx.tpm, sealingKey: ctx.sealingKey, transport: ctx.transport, journalPath: ctx.journalPath, stateDir: ctx.stateDir, trust,
        network: ctx.network, logger: ctx.logger, activationLogger,
      });
      gate = node.activation!;
      agent = node.agent;
      node.agent.on('rejected', (e: RejectedEvent) => ctx.report({ kind: 'rejected', code: e.code, message: e.message, ...(e.height === undefined ? {} : { height: e.height }) }));
      node.agent.on('error', (err: Error & { code?: string }) => ctx.report({ kind: 'error', code: err.code ?? 'ERR_AGENT', message: err.message }));
    }
    report.gate = gate;
    let started = 0;
    const onGate = (s: GateState): void => {
      emit({ type: 'activation', node: label, nodeId, state: s.state, ...('reason' in s ? { reason: s.reason } : {}), msSinceStart: Date.now() - started });
    };
    return {
      async start() {
        started = Date.now();
        gate.onChange(onGate);
        if (node !== null) await node.start();
        else {
          await gate.start();
          await agent.start();
        }
        if (!report.filed || offline.has(label)) return; // never activates: the run goes on without it
        const timeoutMs = options.activationTimeoutMs ?? 30_000;
        let timer: NodeJS.Timeout | undefined;
        const s = await Promise.race([
          gate.waitFor((g) => g.state !== 'not-activated'),
          new Promise<null>((r) => { timer = setTimeout(() => r(null), timeoutMs); }),
        ]).finally(() => clearTimeout(timer));
        if (s === null || s.state !== 'active') {
          const why = s === null ? `not active after ${timeoutMs} ms: ${'reason' in gate.current() ? (gate.current() as { reason: string }).reason : ''}` : `${s.state}`;
          throw new DevnetError('ERR_DEVNET_STARTUP', `${label} did not activate with the root node: ${why}`);
        }
        report.msToActive = Date.now() - started;
      },
      async stop() {
        report.finalState = gate.current();
        if (node !== null) return node.stop();
        try {
          await agent.stop();
        } finally {
          await gate.stop();
        }
      },
    };
  };

  const revokeNow = async (afterHeight: number, label: string, reason: string): Promise<void> => {
    const t0 = Date.now();
    const nodeId = reports.get(label)!.nodeId;
    const version = await root!.revoke(nodeId, reason);
    // Clerks first, at once (not at their next poll); then the list goes out retained for everyone.
    const list = await root!.revocations();
    authority.applyRevocationList(list);
    await shared?.transport.publish(shared.topics.revocations, list as Record<string, unknown>, { qos: 1, retain: true });
    revocation = { node: label, nodeId, afterHeight, version };
    emit({ type: 'revoked', node: label, nodeId, afterHeight, version, ms: Date.now() - t0 });
  };

  const rotateNow = async (afterHeight: number, opensInMs: number): Promise<void> => {
    const signed = announceRootRotation(clerkTerms!.manifest!.signed, rootKey, nextRootKey!, Date.now() + opensInMs);
    // The root first (it signs with the new key from the window on), then the clerks, then everyone.
    await root!.publishManifest(signed);
    await clerkTerms!.offer(signed, 'root');
    await shared?.transport.publish(shared.topics.manifest, JSON.stringify(signed), { qos: 1, retain: true });
    const r = signed.rootRotation!;
    emit({ type: 'root-rotation', afterHeight, version: signed.version, next: r.next, from: r.from, until: r.until });
  };

  const withRegistrations = (b: FinalBlockRecord): FinalBlockRecord => ({ ...b, seals: b.seals.map((s) => ({ ...s, registration: authority.registrationOf(s.node) })) });
  const onEvent = (e: DevnetEvent): void => {
    // The run's directory is ours, not runDevnet's: say that it goes at the end.
    if (e.type === 'broker' && ownsDir) return emit({ ...e, removeAtEnd: true });
    // Each seal of a final block carries the registration the clerk accepted it under.
    emit(e.type !== 'final' ? e : { ...e, block: withRegistrations(e.block) });
    const r = options.revokeAfter;
    if (r !== undefined && e.type === 'final' && e.block.height === r.height && revokeTask.running === null) {
      revokeTask.running = revokeNow(r.height, r.node, r.reason ?? 'revoked by the devnet operator').catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'revocation failed');
        emit({ type: 'agent', nodeId: r.node, kind: 'error', code: 'ERR_DEVNET_REVOKE', message: `revocation failed: ${(err as Error).message}` });
      });
    }
    const rot = options.rotateRootAfter;
    if (rot !== undefined && e.type === 'final' && e.block.height === rot.height && rotateTask.running === null) {
      rotateTask.running = rotateNow(rot.height, rot.opensInMs ?? 1000).catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'root key rotation failed');
        emit({ type: 'agent', nodeId: 'root', kind: 'error', code: 'ERR_DEVNET_ROTATE', message: `root key rotation failed: ${(err as Error).message}` });
      });
    }
  };

  emit({ type: 'root-key', rootPublicKey: toHex(rootKey.publicKey) });
  try {
    const { revokeAfter: _r, unfiled: _u, offline: _o, deviceRevocationPollMs: _d, clerkRevocationPollMs: _c, activationTimeoutMs: _a, onEvent: _e, rootKey: _k, rotateRootAfter: _rr, ...base } = options;
    const result = await runDevnet({
      ...base, stateDir: dir, authority, beforeAgents, agentFactory, onEvent, logger: options.logger ?? log, accountsAtActivation: true,
      // The broker knows a node by the id the root assigns it (its account, its status topic).
      brokerNodeId: (_label, key) => nodeIdFromSpki(publicKeySpki(key.public)),
      root: { publicKey: rootKey.publicKey, privateKey: rootKey.privateKeyObject },
    });
    await revokeTask.running;
    await rotateTask.running;
    const provisioned: ProvisionedNodeReport[] = [...reports].map(([node, r]) => {
      const s = r.finalState ?? r.gate?.current() ?? { state: 'not-activated' as const, nodeId: r.nodeId, reason: 'no agent' };
      return { node, nodeId: r.nodeId, filed: r.filed, msToActive: r.msToActive, finalState: s.state, ...('reason' in s ? { reason: s.reason } : {}) };
    });
    return {
      ...result,
      blocks: result.blocks.map(withRegistrations),
      rootUrl: (root as ProvisionedRoot | null)?.url ?? '',
      rootPublicKey: toHex(rootKey.publicKey),
      provisioned,
      msToActivateAll: provisioned.reduce((sum, p) => sum + (p.msToActive ?? 0), 0),
      registrations: authority.stats(),
      revocation,
    };
  } finally {
    authority.stop();
    (clerkTerms as NetworkState | null)?.close();
    await (root as ProvisionedRoot | null)?.close();
    if (ownsDir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}


