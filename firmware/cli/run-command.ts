// btn-node run --config FILE: one secondary-node agent against a real broker, until SIGINT/SIGTERM.
// The configuration is described in run-config.ts and firmware/agent/README.md.
import { pino, type Logger } from 'pino';
import { createAgent, registeredSealCheck } from '../agent/index.ts';
import { FaultBoard, JOURNAL_FAULT_KEY } from '../agent/faults.ts';
import { explainTpmFailure, retryUntilReady, waitingStatus } from '../agent/startup.ts';
import { writeStatusReported, type AgentStatus } from '../agent/status.ts';
import { keyFingerprint, PrimaryKeySet } from '../protocol/chain/primaries.ts';
import { ActivationGate } from '../activation/gate.ts';
import { localNodeId, type ActivationTpm } from '../activation/activate.ts';
import { alwaysActive, neverActive, type SealGate } from '../sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../sealing/journal.ts';
import { RecoveringJournal } from '../sealing/journal-recovery.ts';
import { createMqttTransport, type MqttTransport } from '../transport/mqtt-transport.ts';
import { openTpm, type Tpm } from '../../tpm/index.ts';
import { parse, UsageError } from '../core/cli-args.ts';
import { holdConfigFault } from './config-fault.ts';
import { loadRunConfig, RunConfigError, type RunConfig } from './run-config.ts';
import { startHouseholdServices, type HouseholdServices } from './run-services.ts';

export { DEFAULT_STATE_DIR, MAX_CONFIG_BYTES, loadRunConfig, parseRunConfig, RunConfigError, type RootConfig, type RunConfig } from './run-config.ts';

/** Revocation lists grow by one short entry per revoked node; 4 MiB holds about 20,000. */
const MAX_REVOCATION_LIST_BYTES = 4 * 1024 * 1024;

const USAGE = `usage: btn-node run --config FILE
  runs one secondary-node agent until SIGINT/SIGTERM; FILE is JSON with tcti, sealingHandle,
  broker, topicPrefix, stateDir, nodeId, primaries, genesis, params, devnetActive,
  root { url, publicKey, revocationPollMs?, timeoutMs? }, board, status { port, host } (see run-config.ts)`;

export interface RunGate extends SealGate {
  start?(): Promise<void>;
  stop?(): Promise<void>;
  onChange?(fn: (s: ReturnType<SealGate['current']>) => void): () => void;
  /** A revocation list pushed on the broker (verified by the gate like a polled one). */
  applyRevocationList?(raw: unknown): Promise<void>;
}

export interface GateDeps {
  readonly tpm: ActivationTpm;
  readonly sealingHandle: number;
  readonly logger: Logger;
}

/**
 * The activation gate for `run`: with `root`, the ActivationGate (activation.json in stateDir);
 * with `devnetActive`, always active (unprovisioned devnets only); otherwise never active.
 */
export async function createGate(config: RunConfig & { readonly nodeId: string }, deps?: GateDeps): Promise<RunGate> {
  if (config.root !== undefined && deps !== undefined) {
    return new ActivationGate({
      rootUrl: config.root.url, rootPublicKey: config.root.publicKey, tpm: deps.tpm, stateDir: config.stateDir, handle: deps.sealingHandle,
      logger: deps.logger, ...(config.root.revocationPollMs === undefined ? {} : { revocationPollMs: config.root.revocationPollMs }),
      ...(config.root.timeoutMs === undefined ? {} : { client: { timeoutMs: config.root.timeoutMs } }),
    });
  }
  if (config.devnetActive) return alwaysActive(config.nodeId);
  return neverActive(config.nodeId, 'no root node configured: add "root": { "url", "publicKey" } to activate (or "devnetActive": true on an unprovisioned devnet)');
}


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

  let tpm: Tpm | null = null;
  let journal: SealJournal | null = null;
  let transport: MqttTransport | null = null;
  let agent: ReturnType<typeof createAgent> | null = null;
  let gate: RunGate | null = null;
  let services: HouseholdServices | null = null;
  let fatal = false;
  try {
    // A TPM that is not there yet, or a state directory that is read-only or full, is waited
    // for with backoff and reported in status.json instead of crash-looping the service.
    const startedAt = Date.now();
    let startup: AgentStatus = waitingStatus(config.nodeId ?? 'unknown', 'starting', { code: 'STARTING', message: 'opening the TPM' }, [], startedAt, startedAt);
    services = await startHouseholdServices(config, () => ({ ...startup, uptimeMs: Date.now() - startedAt }), logger);
    // Each fault (TPM, journal, status file) is said once and shown on the page until it is over.
    const faults = new FaultBoard(logger);
    const wait = { signal: stop.signal, logger, stateDir: config.stateDir, nodeId: config.nodeId ?? 'unknown', faults, onStatus: (s: AgentStatus) => { startup = s; } };
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
    const spki = spkiFromPem(key.publicKeyPem);
    // A provisioned node seals under the id the root assigns: SHA-256 of the sealing key's SPKI.
    const registeredId = localNodeId(key.public);
    if (config.root !== undefined && config.nodeId !== undefined && config.nodeId !== registeredId) {
      throw new RunConfigError(values.config, [`nodeId: ${config.nodeId} is not this TPM's node id ${registeredId}; leave nodeId out with root`]);
    }
    const nodeId = config.root !== undefined ? registeredId : config.nodeId ?? `n-${keyFingerprint(spki).slice(0, 24)}`;
    const openJournal = (): Promise<SealJournal> => openSealJournal(config.journal, { logger });
    const opened = await retryUntilReady(JOURNAL_FAULT_KEY, openJournal, { ...wait, nodeId });
    if (opened === null) return 0;
    // A disk that fills up or turns read-only later: no seal on an unwritten decision, and the
    // journal comes back by itself once it can be written again (no restart).
    journal = new RecoveringJournal(opened, {
      reopen: openJournal, logger,
      onHealth: (h) => (h.ok ? faults.clear(JOURNAL_FAULT_KEY, 'writable again; sealing resumes') : faults.raise(JOURNAL_FAULT_KEY, h.code, h.message, { file: config.journal })),
    });
    transport = createMqttTransport({ url: config.broker, nodeId, sealingKeySpki: spki, prefix: config.topicPrefix, protocol: config.protocol, logger });
    gate = await createGate({ ...config, nodeId }, { tpm, sealingHandle: key.handle, logger });
    // Stored activation state is applied before the agent can take up a candidate.
    await gate.start?.();
    // The root (or a clerk) may also push the signed revocation list, retained, on the broker:
    // a revoked node then stops without waiting for its next poll.
    const activationGate = gate;
    if (activationGate.applyRevocationList) {
      transport.subscribe(transport.topics.revocations, (m) => {
        activationGate.applyRevocationList!(m.value).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'pushed revocation list refused'));
      }, { maxBytes: MAX_REVOCATION_LIST_BYTES });
    }
    agent = createAgent({
      nodeId, tpm, sealingHandle: key.handle, transport, topics: transport.topics, journal, gate,
      primaries: new PrimaryKeySet(config.primaries), genesis: config.genesis, params: config.params, logger, stateDir: config.stateDir,
      // With a root key, only registered, verifying seals of other nodes can stop our spinning.
      ...(config.root === undefined ? {} : { acceptSeenSeal: registeredSealCheck(config.root.publicKey) }),
      faults,
    });
    await agent.start();
    const statusOf = agent;
    services.setStatusSource(() => statusOf.status());
    await services.startTelemetry(nodeId, transport).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'telemetry not started'));
    // status.json follows activation at once (not activated and why, active, revoked), not only every 5 s.
    const running = agent;
    const rewrite = (): void => void writeStatusReported(config.stateDir, running.status(), faults);
    gate.onChange?.(rewrite);
    faults.onChange(rewrite);
    logger.info({ nodeId, activation: gate.current().state, broker: config.broker }, 'agent running');
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
    await services?.stop({ fault: fatal });
    await agent?.stop().catch((err: unknown) => logger.warn({ err: String(err) }, 'agent stop failed'));
    await gate?.stop?.().catch((err: unknown) => logger.warn({ err: String(err) }, 'activation gate stop failed'));
    await transport?.close().catch(() => undefined);
    await journal?.close().catch(() => undefined);
    await tpm?.close().catch(() => undefined);
  }
}

function spkiFromPem(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, ''), 'base64'));
}

