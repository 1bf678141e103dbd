// btn-node run --config FILE: one secondary-node agent against a real broker, until SIGINT/SIGTERM.
// The configuration is described in run-config.ts and firmware/agent/README.md.
import { pino, type Logger } from 'pino';
import { FaultBoard, JOURNAL_FAULT_KEY } from '../agent/faults.ts';
import { explainTpmFailure, retryUntilReady, waitingStatus } from '../agent/startup.ts';
import type { NodeStatus } from '../status/index.ts';
import type { FinalMessage } from '../protocol/final-message.ts';
import { updateAnnouncementMessage } from '../protocol/update-announcement.ts';
import { AnnouncementFollower, readVersionFile, systemCompatible, UpdateFiles, VERSION_FILE } from '../update/index.ts';
import { createNode, type NodeTrust, type SecondaryNode } from '../node/index.ts';
import { openSealJournal } from '../sealing/journal.ts';
import { refuseIfJournalHeld } from '../sealing/journal-lock.ts';
import { tpmSealCounter } from '../sealing/journal-anchor.ts';
import { readBrokerCredentials } from '../activation/broker-credentials.ts';
import { createMqttTransport, type MqttTransport } from '../transport/mqtt-transport.ts';
import { openTpm, type Tpm } from '../../tpm/index.ts';
import { parse, UsageError } from '../core/cli-args.ts';
import { holdConfigFault } from './config-fault.ts';
import { readSetupProblems } from './setup-problems.ts';
import { loadRunConfig, RunConfigError, type RunConfig } from './run-config.ts';
import { startHouseholdServices, type HouseholdServices } from './run-services.ts';
import { nodeIdFromSpki, provisionalNodeId, spkiOf } from '../protocol/identity.ts';

export { DEFAULT_STATE_DIR, MAX_CONFIG_BYTES, loadRunConfig, parseRunConfig, RunConfigError, type RootConfig, type RunConfig } from './run-config.ts';


const USAGE = `usage: btn-node run --config FILE
  runs one secondary-node agent until SIGINT/SIGTERM; FILE is JSON with tcti, sealingHandle,
  broker, topicPrefix, stateDir, nodeId, primaries, genesis, params, devnetActive,
  root { url, publicKey, revocationPollMs?, timeoutMs? }, board, status { port, host } (see run-config.ts)`;

export interface RunCommandDeps {
  /** Ends the run like SIGINT (tests). */
  readonly signal?: AbortSignal;
  /** Called once the agent runs (tests). */
  readonly onStarted?: (info: { nodeId: string; publicKeyPem: string }) => void;
}

/** Aborts on SIGINT, SIGTERM or the caller's signal; dispose() takes the handlers off again. */
function stopOnSignals(outer: AbortSignal | undefined, onSignal: (sig: string) => void): { readonly signal: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  const onProcessSignal = (sig: string): void => {
    onSignal(sig);
    stop.abort(sig);
  };
  const onOuter = (): void => stop.abort('aborted');
  process.on('SIGINT', onProcessSignal);
  process.on('SIGTERM', onProcessSignal);
  outer?.addEventListener('abort', onOuter, { once: true });
  if (outer?.aborted) stop.abort('aborted');
  return {
    signal: stop.signal,
    dispose() {
      process.off('SIGINT', onProcessSignal);
      process.off('SIGTERM', onProcessSignal);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

export async function runCommand(argv: readonly string[], deps: RunCommandDeps = {}): Promise<number> {
  const values = parse(argv, { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.config === undefined) throw new UsageError(`run needs --config FILE\n${USAGE}`);
  let logger: Logger = pino({ base: { cmd: 'run' } }, pino.destination({ dest: 2, sync: true }));
  const stop = stopOnSignals(deps.signal, (sig) => logger.info({ signal: sig }, 'stopping'));
  let config: RunConfig;
  try {
    config = loadRunConfig(values.config);
  } catch (err) {
    // With a sound status part, the problems stay on the status page until the service is stopped.
    if (err instanceof RunConfigError) await holdConfigFault(err, { signal: stop.signal, logger });
    stop.dispose();
    throw err;
  }
  logger = pino({ level: config.logLevel, base: { cmd: 'run' } }, pino.destination({ dest: 2, sync: true }));
  // A second agent on this state directory stops here, before it touches the TPM, the status
  // file, the status page or the LED of the one that runs; the journal's own lock, taken below,
  // settles two that start at the same instant (ERR_JOURNAL_LOCKED is not retried).
  try {
    await refuseIfJournalHeld(config.journal);
  } catch (err) {
    stop.dispose();
    throw err;
  }

  let tpm: Tpm | null = null;
  let transport: MqttTransport | null = null;
  let node: SecondaryNode | null = null;
  let follower: AnnouncementFollower | null = null;
  let stopUpdates: (() => void) | null = null;
  let services: HouseholdServices | null = null;
  let fatal = false;
  try {
    // A TPM that is not there yet, or a state directory that is read-only or full, is waited
    // for with backoff and reported in status.json instead of crash-looping the service.
    const startedAt = Date.now();
    let startup: NodeStatus = waitingStatus(config.nodeId ?? 'unknown', 'starting', { code: 'STARTING', message: 'opening the TPM' }, [], startedAt, startedAt);
    services = await startHouseholdServices(config, () => ({ ...startup, uptimeMs: Date.now() - startedAt }), logger);
    // Each fault (TPM, journal, status file) is said once and shown on the page until it is over.
    const faults = new FaultBoard(logger);
    // What the set-up script refused in btn-node.txt at this boot stays on the page until it is fixed there.
    for (const p of readSetupProblems(values.config)) faults.raise(p.key, 'ERR_SETUP_VALUE', p.message);
    const wait = { signal: stop.signal, logger, stateDir: config.stateDir, nodeId: config.nodeId ?? 'unknown', faults, onStatus: (s: NodeStatus) => { startup = s; } };
    const handle = config.sealingHandle === undefined ? {} : { handle: config.sealingHandle };
    const ready = await retryUntilReady(`TPM at ${config.tcti}`, async () => {
      const opened = await openTpm({ tcti: config.tcti }).catch(async (err: unknown) => { throw await explainTpmFailure(config.tcti, err); });
      try {
        return { tpm: opened, key: await opened.ensureSealingKey(handle) };
      } catch (err) {
        await opened.close().catch(() => undefined);
        throw err;
      }
    }, wait);
    if (ready === null) return 0;
    tpm = ready.tpm;
    const key = ready.key;
    const spki = spkiOf(key.publicKeyPem);
    // A provisioned node seals under the id the root assigns: SHA-256 of the sealing key's SPKI.
    const registeredId = nodeIdFromSpki(spki);
    if (config.root !== undefined && config.nodeId !== undefined && config.nodeId !== registeredId) {
      throw new RunConfigError(values.config, [`nodeId: ${config.nodeId} is not this TPM's node id ${registeredId}; leave nodeId out with root`]);
    }
    const nodeId = config.root !== undefined ? registeredId : config.nodeId ?? provisionalNodeId(spki);
    const opened = await retryUntilReady(JOURNAL_FAULT_KEY, () => openSealJournal(config.journal, { logger, counter: tpmSealCounter(ready.tpm) }), { ...wait, nodeId });
    if (opened === null) return 0;
    // The broker identity the TPM released at an earlier activation, if any; a new one follows activation.
    const credentials = await readBrokerCredentials(config.stateDir).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message }, 'broker credentials not used');
      return null;
    });
    transport = createMqttTransport({
      url: config.broker, fallbackUrls: config.brokerFallbacks, maxSubscribeQos: config.brokerSubscribeQos, nodeId, sealingKeySpki: spki, prefix: config.topicPrefix, protocol: config.protocol, logger,
      ...(config.brokerCa === null ? {} : { ca: config.brokerCa }), ...(credentials === null ? {} : credentials),
    });
    node = await createNode({
      nodeId, tpm, sealingKey: key, transport, journalPath: config.journal, journal: opened, stateDir: config.stateDir, trust: trustOf(config),
      network: config.root !== undefined
        ? { kind: 'signed', network: config.network, rootPublicKey: config.root.publicKey }
        : { kind: 'pinned', terms: config.pinned! },
      logger, faults, ...(credentials === null ? {} : { brokerPasswordInUse: credentials.password }),
    });
    await node.start();
    // The fleet's updates: root-signed announcements, installed at this node's moment by root (A/B images only).
    const root = config.root;
    if (root !== undefined) {
      const running = node;
      const files = new UpdateFiles(config.stateDir);
      follower = new AnnouncementFollower({
        stateDir: config.stateDir, nodeId, network: config.network, rootPublicKey: root.publicKey, logger,
        rootKeys: () => running.network.rootKeys?.at(Date.now()) ?? null,
        compatible: () => systemCompatible(), runningVersion: () => readVersionFile(VERSION_FILE), floor: () => files.readFloor(),
        spinning: () => running.status().spinning,
      });
      const f = follower;
      stopUpdates = transport.subscribe(transport.topics.updates, (m) => void f.offer(m.value), { qos: 1, schema: updateAnnouncementMessage });
    }
    const running = node;
    const updates = follower;
    // The page, the light and the health check see an announced update as the node follows it.
    services.setStatusSource(() => (updates === null ? running.status() : { ...running.status(), update: updates.state() }));
    services.setHistory(running.history.history);
    services.followFinals((fn) => {
      const on = (f: FinalMessage): void => fn(f.height, f.timestamp);
      running.agent.on('final', on);
      return () => void running.agent.off('final', on);
    });
    await services.startTelemetry(nodeId, transport, running.history.history).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'telemetry not started'));
    logger.info({ nodeId, activation: node.gate.current().state, broker: config.broker }, 'agent running');
    deps.onStarted?.({ nodeId, publicKeyPem: key.publicKeyPem });
    if (!stop.signal.aborted) await new Promise<void>((r) => stop.signal.addEventListener('abort', () => r(), { once: true }));
    return 0;
  } catch (err) {
    // Ends on something no retry fixes (a corrupt journal, another TPM's nodeId): the status
    // light keeps blinking fast after the process is gone, so the household sees it needs them.
    fatal = true;
    throw err;
  } finally {
    stop.dispose();
    stopUpdates?.();
    await follower?.stop();
    await services?.stop({ fault: fatal });
    await node?.stop();
    await transport?.close().catch(() => undefined);
    await tpm?.close().catch(() => undefined);
  }
}

/** How a configured node is trusted: its root node, an unprovisioned devnet, or not at all (never seals). */
export function trustOf(config: RunConfig): NodeTrust {
  if (config.root !== undefined) {
    return {
      kind: 'root', url: config.root.url, publicKey: config.root.publicKey,
      ...(config.root.revocationPollMs === undefined ? {} : { revocationPollMs: config.root.revocationPollMs }),
      ...(config.root.timeoutMs === undefined ? {} : { timeoutMs: config.root.timeoutMs }),
    };
  }
  if (config.devnetActive) return { kind: 'unprovisioned' };
  return { kind: 'none', reason: 'no root node configured: add "root": { "url", "publicKey" } to activate (or "devnetActive": true on an unprovisioned devnet)' };
}


