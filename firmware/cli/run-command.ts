// btn-node run --config FILE: one secondary-node agent against a real broker, until SIGINT/SIGTERM.
//
// FILE is JSON (at most 64 KiB); every wrong field is named at once:
//   { "tcti": "device:/dev/tpmrm0", "sealingHandle": "0x81000B70", "broker": "mqtt://host:1883",
//     "topicPrefix": "btn/v1", "stateDir": "/var/lib/btn-node", "nodeId": "optional",
//     "primaries": ["-----BEGIN PUBLIC KEY-----...", "clerks.pem"] | "clerks.pem",
//     "genesis": { "hash": "<64 hex>", "height": 0, "timestamp": 1700000000000 },
//     "params": { ...NetworkParams, optional }, "devnetActive": false, "journal": "optional path",
//     "protocol": "auto" | 4 | 5, "logLevel": "info",
//     "root": { "url": "https://root.example", "publicKey": "<64 hex: root Ed25519 key>", "revocationPollMs": 300000 } }
// With "root" the node seals only behind the ActivationGate (firmware/activation): it activates
// itself on first start (retrying with backoff while the root is unreachable or the TPM is not
// filed yet), refuses to seal until active, and stops for good once the signed revocation list
// names it. Without "root", "devnetActive": true marks an unprovisioned devnet node active;
// with neither, the node never seals.
// Relative paths are resolved against the config file's directory.
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { createAgent, registeredSealCheck, writeStatusFile } from '../agent/index.ts';
import { retryUntilReady } from '../agent/startup.ts';
import { keyFingerprint, PrimaryKeySet } from '../chain/primaries.ts';
import { DEFAULT_PARAMS, parseParams, type NetworkParams } from '../protocol/params.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { ActivationGate } from '../activation/gate.ts';
import { localNodeId, type ActivationTpm } from '../activation/activate.ts';
import { alwaysActive, neverActive, type SealGate } from '../sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../sealing/journal.ts';
import { createMqttTransport, topicPrefix, DEFAULT_TOPIC_PREFIX, type MqttTransport } from '../transport/index.ts';
import { checkSealingHandle, openTpm, parseHandle, parseTcti, type Tpm } from '../../tpm/index.ts';
import { parse, UsageError } from './args.ts';

export const DEFAULT_STATE_DIR = '/var/lib/btn-node';
export const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_PEM_FILE_BYTES = 1024 * 1024;
const MAX_PRIMARIES = 1024;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** Revocation lists grow by one short entry per revoked node; 4 MiB holds about 20,000. */
const MAX_REVOCATION_LIST_BYTES = 4 * 1024 * 1024;
const KNOWN = ['tcti', 'sealingHandle', 'broker', 'topicPrefix', 'stateDir', 'nodeId', 'primaries', 'genesis', 'params', 'devnetActive', 'journal', 'protocol', 'logLevel', 'root'];
const MIN_REVOCATION_POLL_MS = 100;
const MAX_REVOCATION_POLL_MS = 24 * 3600_000;

const USAGE = `usage: btn-node run --config FILE
  runs one secondary-node agent until SIGINT/SIGTERM; FILE is JSON with tcti, sealingHandle,
  broker, topicPrefix, stateDir, nodeId, primaries, genesis, params, devnetActive,
  root { url, publicKey, revocationPollMs? } (see run-command.ts)`;

/** The root node this device activates with (DESIGN.md §4). */
export interface RootConfig {
  readonly url: string;
  /** The root's Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  readonly revocationPollMs: number | undefined;
}

export interface RunConfig {
  readonly tcti: string;
  readonly sealingHandle: number | undefined;
  readonly broker: string;
  readonly topicPrefix: string;
  readonly stateDir: string;
  readonly nodeId: string | undefined;
  /** SPKI PEM of each clerk. */
  readonly primaries: readonly string[];
  readonly genesis: { readonly hash: Uint8Array; readonly height: number; readonly timestamp?: number };
  readonly params: NetworkParams;
  readonly devnetActive: boolean;
  readonly journal: string;
  readonly protocol: 'auto' | 4 | 5;
  readonly logLevel: string;
  readonly root: RootConfig | undefined;
}

export class RunConfigError extends Error {
  override readonly name = 'RunConfigError';
  readonly code = 'ERR_RUN_CONFIG';
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`config ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  - ${problems.join('\n  - ')}`);
  }

  toObject(): { name: string; code: string; message: string; file: string; problems: readonly string[] } {
    return { name: this.name, code: this.code, message: this.message, file: this.file, problems: this.problems };
  }
}

/** A gate `run` starts before the agent and stops after it. */
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
    });
  }
  if (config.devnetActive) return alwaysActive(config.nodeId);
  return neverActive(config.nodeId, 'no root node configured: add "root": { "url", "publicKey" } to activate (or "devnetActive": true on an unprovisioned devnet)');
}

export function loadRunConfig(file: string): RunConfig {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES) throw new RunConfigError(file, [`file is ${size} bytes, at most ${MAX_CONFIG_BYTES}`]);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof RunConfigError) throw err;
    throw new RunConfigError(file, [`cannot read: ${(err as Error).message}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RunConfigError(file, [`not JSON: ${(err as Error).message}`]);
  }
  return parseRunConfig(value, file);
}

/** Validates a parsed config; relative paths resolve against the config file's directory. */
export function parseRunConfig(value: unknown, file: string): RunConfig {
  const problems: string[] = [];
  const base = dirname(resolve(file));
  const at = (p: string): string => (isAbsolute(p) ? p : join(base, p));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RunConfigError(file, ['must be a JSON object']);
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.includes(k)) problems.push(`${k}: unknown field (known: ${KNOWN.join(', ')})`);
  const str = (k: string, fallback?: string): string => {
    const v = o[k] ?? fallback;
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) {
      problems.push(`${k}: must be a non-empty string${fallback === undefined ? ' (required)' : ''}`);
      return '';
    }
    return v;
  };

  const tcti = str('tcti');
  if (tcti) try { parseTcti(tcti); } catch (err) { problems.push(`tcti: ${(err as Error).message}`); }
  let sealingHandle: number | undefined;
  if (o['sealingHandle'] !== undefined) {
    try {
      const h = o['sealingHandle'];
      sealingHandle = typeof h === 'number' ? checkSealingHandle(h) : parseHandle(String(h));
    } catch (err) {
      problems.push(`sealingHandle: ${(err as Error).message}`);
    }
  }
  const broker = str('broker');
  if (broker && !/^(mqtts?|tcp|wss?):\/\/[^\s]+$/.test(broker)) problems.push('broker: must be an mqtt://, mqtts://, tcp://, ws:// or wss:// URL');
  const prefix = str('topicPrefix', DEFAULT_TOPIC_PREFIX);
  if (prefix) try { topicPrefix(prefix); } catch (err) { problems.push(`topicPrefix: ${(err as Error).message}`); }
  const stateDir = at(str('stateDir', DEFAULT_STATE_DIR) || DEFAULT_STATE_DIR);
  const journal = o['journal'] === undefined ? join(stateDir, 'seal-journal') : at(str('journal'));
  let nodeId: string | undefined;
  if (o['nodeId'] !== undefined) {
    nodeId = str('nodeId');
    if (nodeId && !/^[0-9a-zA-Z_-]{1,128}$/.test(nodeId)) problems.push('nodeId: must be 1..128 characters of [0-9a-zA-Z_-]');
  }
  const primaries = readPrimaries(o['primaries'], at, problems);
  const genesis = readGenesis(o['genesis'], problems);
  const params = readParams(o['params'], problems);
  const devnetActive = o['devnetActive'] ?? false;
  if (typeof devnetActive !== 'boolean') problems.push('devnetActive: must be true or false');
  const protocol = o['protocol'] ?? 'auto';
  if (protocol !== 'auto' && protocol !== 4 && protocol !== 5) problems.push('protocol: must be "auto", 4 or 5');
  const logLevel = o['logLevel'] ?? 'info';
  if (typeof logLevel !== 'string' || !LOG_LEVELS.includes(logLevel)) problems.push(`logLevel: must be one of ${LOG_LEVELS.join(', ')}`);
  const root = readRoot(o['root'], problems);
  if (o['root'] !== undefined && devnetActive === true) problems.push('devnetActive: cannot be true together with root (a provisioned node is active only through the root node)');
  if (o['root'] !== undefined && nodeId !== undefined && !/^[0-9a-f]{64}$/.test(nodeId)) {
    problems.push('nodeId: with root, the node id is the one the root assigns (SHA-256 of the sealing key, 64 lower-case hex); leave it out');
  }
  if (problems.length > 0) throw new RunConfigError(file, problems);
  return {
    tcti, sealingHandle, broker, topicPrefix: prefix, stateDir, nodeId, primaries, genesis: genesis!, params: params!,
    devnetActive: devnetActive as boolean, journal, protocol: protocol as 'auto' | 4 | 5, logLevel: logLevel as string, root,
  };
}

function readRoot(value: unknown, problems: string[]): RootConfig | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push('root: must be an object { url, publicKey, revocationPollMs? }');
    return undefined;
  }
  const r = value as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(r)) if (!['url', 'publicKey', 'revocationPollMs'].includes(k)) problems.push(`root.${k}: unknown field (known: url, publicKey, revocationPollMs)`);
  const url = r['url'];
  let parsed: URL | null = null;
  if (typeof url === 'string' && url.length <= 2048) {
    try {
      parsed = new URL(url);
    } catch { /* reported below */ }
  }
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.username !== '' || parsed.password !== '') {
    problems.push('root.url: must be an http:// or https:// URL of the root node, without credentials (required)');
  }
  const key = r['publicKey'];
  if (typeof key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(key)) problems.push('root.publicKey: must be the root Ed25519 public key as 64 hex characters (required; btn-provision keygen prints it)');
  const poll = r['revocationPollMs'];
  if (poll !== undefined && (!Number.isSafeInteger(poll) || (poll as number) < MIN_REVOCATION_POLL_MS || (poll as number) > MAX_REVOCATION_POLL_MS)) {
    problems.push(`root.revocationPollMs: must be an integer in ${MIN_REVOCATION_POLL_MS}..${MAX_REVOCATION_POLL_MS} (ms)`);
  }
  if (problems.length > before) return undefined;
  return { url: url as string, publicKey: new Uint8Array(Buffer.from(key as string, 'hex')), revocationPollMs: poll as number | undefined };
}

function readPrimaries(value: unknown, at: (p: string) => string, problems: string[]): string[] {
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? value : null;
  if (items === null || items.length === 0 || items.length > MAX_PRIMARIES) {
    problems.push(`primaries: must be a path to a PEM file or an array of 1..${MAX_PRIMARIES} PEM keys or paths (required)`);
    return [];
  }
  const pems: string[] = [];
  items.forEach((item: unknown, i) => {
    const field = typeof value === 'string' ? 'primaries' : `primaries[${i}]`;
    if (typeof item !== 'string' || item.length === 0 || item.length > 64 * 1024) return void problems.push(`${field}: must be a PEM key or a path`);
    let text = item;
    if (!item.includes('-----BEGIN')) {
      try {
        const path = at(item);
        if (statSync(path).size > MAX_PEM_FILE_BYTES) return void problems.push(`${field}: ${path} is larger than ${MAX_PEM_FILE_BYTES} bytes`);
        text = readFileSync(path, 'utf8');
      } catch (err) {
        return void problems.push(`${field}: cannot read ${item}: ${(err as Error).message}`);
      }
    }
    const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
    if (blocks.length === 0) return void problems.push(`${field}: no "BEGIN PUBLIC KEY" PEM block`);
    for (const pem of blocks) {
      try {
        new PrimaryKeySet([pem]);
        pems.push(pem);
      } catch (err) {
        problems.push(`${field}: ${(err as Error).message}`);
      }
    }
  });
  return pems;
}

function readGenesis(value: unknown, problems: string[]): RunConfig['genesis'] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push('genesis: must be an object { hash, height, timestamp? } (required)');
    return undefined;
  }
  const g = value as Record<string, unknown>;
  const hash = g['hash'];
  const height = g['height'];
  const timestamp = g['timestamp'];
  let ok = true;
  if (typeof hash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hash)) { problems.push('genesis.hash: must be 64 hex characters'); ok = false; }
  if (!Number.isSafeInteger(height) || (height as number) < 0) { problems.push('genesis.height: must be a non-negative integer'); ok = false; }
  if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || (timestamp as number) < 0)) { problems.push('genesis.timestamp: must be Unix milliseconds'); ok = false; }
  if (!ok) return undefined;
  return { hash: new Uint8Array(Buffer.from(hash as string, 'hex')), height: height as number, ...(timestamp === undefined ? {} : { timestamp: timestamp as number }) };
}

function readParams(value: unknown, problems: string[]): NetworkParams | undefined {
  if (value === undefined) return DEFAULT_PARAMS;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push('params: must be an object of network parameters');
    return undefined;
  }
  const given = value as Record<string, unknown>;
  const before = problems.length;
  // One field at a time over the defaults, so that every wrong field is named.
  for (const [k, v] of Object.entries(given)) {
    if (!(k in DEFAULT_PARAMS)) { problems.push(`params.${k}: unknown parameter`); continue; }
    try {
      parseParams(JSON.stringify({ ...DEFAULT_PARAMS, [k]: v }));
    } catch (err) {
      if ((err as ProtocolError).field === k) problems.push((err as Error).message);
    }
  }
  if (problems.length > before) return undefined;
  try {
    return parseParams(JSON.stringify({ ...DEFAULT_PARAMS, ...given }));
  } catch (err) {
    problems.push((err as Error).message);
    return undefined;
  }
}

export interface RunCommandDeps {
  /** Ends the run like SIGINT (tests). */
  readonly signal?: AbortSignal;
  /** Called once the agent runs (tests). */
  readonly onStarted?: (info: { nodeId: string; publicKeyPem: string }) => void;
}

export async function runCommand(argv: readonly string[], deps: RunCommandDeps = {}): Promise<number> {
  const values = parse(argv, { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.config === undefined) throw new UsageError(`run needs --config FILE\n${USAGE}`);
  const config = loadRunConfig(values.config);
  const logger: Logger = pino({ level: config.logLevel, base: { cmd: 'run' } }, pino.destination({ dest: 2, sync: true }));
  const stop = new AbortController();
  const onSignal = (sig: string): void => {
    logger.info({ signal: sig }, 'stopping');
    stop.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const onOuter = (): void => stop.abort('aborted');
  deps.signal?.addEventListener('abort', onOuter, { once: true });
  if (deps.signal?.aborted) stop.abort('aborted');

  let tpm: Tpm | null = null;
  let journal: SealJournal | null = null;
  let transport: MqttTransport | null = null;
  let agent: ReturnType<typeof createAgent> | null = null;
  let gate: RunGate | null = null;
  try {
    // A TPM that is not there yet, or a state directory that is read-only or full, is waited
    // for with backoff and reported in status.json instead of crash-looping the service.
    const wait = { signal: stop.signal, logger, stateDir: config.stateDir, nodeId: config.nodeId ?? 'unknown' };
    const handle = config.sealingHandle === undefined ? {} : { handle: config.sealingHandle };
    const ready = await retryUntilReady(`TPM at ${config.tcti}`, async () => {
      const opened = await openTpm({ tcti: config.tcti });
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
    journal = await retryUntilReady('seal journal', () => openSealJournal(config.journal, { logger }), { ...wait, nodeId });
    if (journal === null) return 0;
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
    });
    await agent.start();
    // status.json follows activation at once (not activated and why, active, revoked), not only every 5 s.
    const running = agent;
    gate.onChange?.(() => {
      writeStatusFile(config.stateDir, running.status()).catch((err: unknown) => logger.warn({ err: String(err) }, 'status file not written'));
    });
    logger.info({ nodeId, activation: gate.current().state, broker: config.broker }, 'agent running');
    deps.onStarted?.({ nodeId, publicKeyPem: key.publicKeyPem });
    if (!stop.signal.aborted) await new Promise<void>((r) => stop.signal.addEventListener('abort', () => r(), { once: true }));
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    deps.signal?.removeEventListener('abort', onOuter);
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
