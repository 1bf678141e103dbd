// The configuration of `btn-node run` (one JSON file), validated so that every wrong field is
// named at once.
//
// FILE is JSON (at most 64 KiB); every wrong field is named at once:
//   { "tcti": "device:/dev/tpmrm0", "sealingHandle": "0x81000B70", "broker": "mqtt://host:1883",
//     "topicPrefix": "btn/v1", "stateDir": "/var/lib/btn-node", "nodeId": "optional",
//     "network": "mainnet", "journal": "optional path", "protocol": "auto" | 4 | 5, "logLevel": "info",
//     "brokerCa": "broker-ca.pem" (mqtts://: the network broker's CA, pinned; the system's CAs are not used),
//     "root": { "url": "https://root.example", "publicKey": "<64 hex: root Ed25519 key>", "revocationPollMs": 300000, "timeoutMs": 10000 } }
// With "root" the node takes its network's terms (params, the clerks' keys, the committee, the
// genesis) only from manifests signed by the root key, fetched from the root and the broker, and
// seals only behind the ActivationGate (firmware/activation): it activates itself on first start
// (retrying with backoff while the root is unreachable or the TPM is not filed yet), refuses to
// seal until active, and stops for good once the signed revocation list names it.
// Without "root" (an unprovisioned devnet) the config pins the terms instead:
//     "primaries": ["-----BEGIN PUBLIC KEY-----...", "clerks.pem"] | "clerks.pem",
//     "genesis": { "hash": "<64 hex>", "height": 0, "timestamp": 1700000000000 },
//     "params": { ...NetworkParams, optional },
//     "committee": { "members": ["<64 hex Ed25519 vote key>", ...], "quorum": 2 } (optional: without it no final is taken),
//     "devnetActive": true marks the node active; with neither root nor devnetActive it never seals.
// Relative paths are resolved against the config file's directory.
//   "board": "board.json" (a board-configs file: telemetry interval, model for Home Assistant),
//   "status": { "port": 8080, "host": "0.0.0.0" } | false (the household's status page; off by default)
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { validateBoardConfig, type BoardConfig } from '../board/index.ts';
import { PrimaryKeySet } from '../protocol/chain/primaries.ts';
import { DEFAULT_PARAMS, paramsMessage, type NetworkParams } from '../protocol/params.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { NETWORK_NAME } from '../protocol/network-manifest.ts';
import { Committee, MAX_COMMITTEE } from '../protocol/quorum.ts';
import type { NetworkTerms } from '../node/network-state.ts';
import { topicPrefix, DEFAULT_TOPIC_PREFIX } from '../protocol/topics.ts';
import { checkSealingHandle, parseHandle, parseTcti } from '../../tpm/index.ts';
import { fromHex } from '../core/bytes.ts';
import { CodedError } from '../core/errors.ts';

export const DEFAULT_STATE_DIR = '/var/lib/btn-node';
/** The seal journal's file in the state directory, unless a config names another. */
export const JOURNAL_FILE = 'seal-journal';
export const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_PEM_FILE_BYTES = 1024 * 1024;
const MAX_PRIMARIES = 1024;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const KNOWN = ['tcti', 'sealingHandle', 'broker', 'brokerCa', 'topicPrefix', 'stateDir', 'nodeId', 'network', 'primaries', 'genesis', 'params', 'committee', 'devnetActive', 'journal', 'protocol', 'logLevel', 'root', 'board', 'status'];
/** Terms a config may pin only without a root: with one, they come from its signed manifest. */
const PINNED = ['primaries', 'genesis', 'params', 'committee'];
export const DEFAULT_NETWORK = 'devnet';
const MIN_REVOCATION_POLL_MS = 100;
const MAX_REVOCATION_POLL_MS = 24 * 3600_000;
const MIN_ROOT_TIMEOUT_MS = 500;
const MAX_ROOT_TIMEOUT_MS = 120_000;

/** The root node this device activates with (docs/activation.md). */
export interface RootConfig {
  readonly url: string;
  /** The root's Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  readonly revocationPollMs: number | undefined;
  /** Per request to the root, connect to last byte (ms); a root that accepts but never answers. */
  readonly timeoutMs: number | undefined;
}

export interface RunConfig {
  readonly tcti: string;
  readonly sealingHandle: number | undefined;
  readonly broker: string;
  /** The pinned CA of an mqtts:// broker (PEM text); null: none given. */
  readonly brokerCa: string | null;
  readonly topicPrefix: string;
  readonly stateDir: string;
  readonly nodeId: string | undefined;
  /** The network's name (what committee votes sign). */
  readonly network: string;
  /** The terms an unprovisioned devnet's config pins; null with a root (they come from its signed manifest). */
  readonly pinned: NetworkTerms | null;
  readonly devnetActive: boolean;
  readonly journal: string;
  readonly protocol: 'auto' | 4 | 5;
  readonly logLevel: string;
  readonly root: RootConfig | undefined;
  /** The board this node runs on (telemetry interval, Home Assistant model); null when not given. */
  readonly board: BoardConfig | null;
  /** The LAN status page; null when off. */
  readonly status: { readonly port: number; readonly host: string } | null;
}

export class RunConfigError extends CodedError<'ERR_RUN_CONFIG'> {
  override readonly name = 'RunConfigError';
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super('ERR_RUN_CONFIG', `config ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  - ${problems.join('\n  - ')}`, { file, problems });
  }
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
      if (typeof h === 'number') sealingHandle = checkSealingHandle(h);
      else if (typeof h === 'string') sealingHandle = parseHandle(h);
      else throw new Error('must be a number or a hex string such as "0x81000B70"');
    } catch (err) {
      problems.push(`sealingHandle: ${(err as Error).message}`);
    }
  }
  const broker = str('broker');
  if (broker && !/^(mqtts?|tcp|wss?):\/\/[^\s]+$/.test(broker)) problems.push('broker: must be an mqtt://, mqtts://, tcp://, ws:// or wss:// URL');
  const prefix = str('topicPrefix', DEFAULT_TOPIC_PREFIX);
  if (prefix) try { topicPrefix(prefix); } catch (err) { problems.push(`topicPrefix: ${(err as Error).message}`); }
  const stateDir = at(str('stateDir', DEFAULT_STATE_DIR) || DEFAULT_STATE_DIR);
  const journal = o['journal'] === undefined ? join(stateDir, JOURNAL_FILE) : at(str('journal'));
  let nodeId: string | undefined;
  if (o['nodeId'] !== undefined) {
    nodeId = str('nodeId');
    if (nodeId && !/^[0-9a-zA-Z_-]{1,128}$/.test(nodeId)) problems.push('nodeId: must be 1..128 characters of [0-9a-zA-Z_-]');
  }
  const network = o['network'] ?? DEFAULT_NETWORK;
  try {
    NETWORK_NAME.read(network, 'network');
  } catch (err) {
    problems.push((err as Error).message);
  }
  let pinned: NetworkTerms | null = null;
  if (o['root'] !== undefined) {
    for (const k of PINNED) if (o[k] !== undefined) problems.push(`${k}: comes from the root's signed network manifest when root is set; leave it out`);
    if (o['network'] === undefined) problems.push('network: the network\'s name is required with root (the manifest and the committee\'s votes name it)');
  } else {
    const primaries = readPrimaries(o['primaries'], at, problems);
    const genesis = readGenesis(o['genesis'], problems);
    const params = readParams(o['params'], problems);
    const committee = readCommittee(o['committee'], network as string, problems);
    if (genesis !== undefined && params !== undefined && committee !== undefined && primaries.length > 0) {
      pinned = { version: params.version, params, primaries: new PrimaryKeySet(primaries), committee, genesis };
    }
  }
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
  const board = readBoard(o['board'], at, problems);
  const brokerCa = readBrokerCa(o['brokerCa'], at, problems);
  if (brokerCa !== null && broker && !broker.startsWith('mqtts://')) problems.push('brokerCa: only for an mqtts:// broker');
  const status = readStatus(o['status'], problems);
  if (problems.length > 0) throw new RunConfigError(file, problems);
  return {
    board, status,
    tcti, sealingHandle, broker, brokerCa, topicPrefix: prefix, stateDir, nodeId, network: network as string, pinned,
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
  for (const k of Object.keys(r)) if (!['url', 'publicKey', 'revocationPollMs', 'timeoutMs'].includes(k)) problems.push(`root.${k}: unknown field (known: url, publicKey, revocationPollMs, timeoutMs)`);
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
  const timeout = r['timeoutMs'];
  if (timeout !== undefined && (!Number.isSafeInteger(timeout) || (timeout as number) < MIN_ROOT_TIMEOUT_MS || (timeout as number) > MAX_ROOT_TIMEOUT_MS)) {
    problems.push(`root.timeoutMs: must be an integer in ${MIN_ROOT_TIMEOUT_MS}..${MAX_ROOT_TIMEOUT_MS} (ms)`);
  }
  if (problems.length > before) return undefined;
  return { url: url as string, publicKey: fromHex(key as string), revocationPollMs: poll as number | undefined, timeoutMs: timeout as number | undefined };
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

/** A pinned committee: absent is null (finals are then refused), wrong is undefined with the problems named. */
function readCommittee(value: unknown, network: string, problems: string[]): Committee | null | undefined {
  if (value === undefined) return null;
  const c = value as { members?: unknown; quorum?: unknown } | null;
  const members = c?.members;
  if (c === null || typeof c !== 'object' || !Array.isArray(members) || members.length === 0 || members.length > MAX_COMMITTEE
    || !members.every((m) => typeof m === 'string' && /^[0-9a-fA-F]{64}$/.test(m))) {
    problems.push(`committee: must be { members: [1..${MAX_COMMITTEE} Ed25519 public keys as 64 hex], quorum }`);
    return undefined;
  }
  try {
    return new Committee(network, (members as string[]).map((m) => fromHex(m)), c.quorum as number);
  } catch (err) {
    problems.push(`committee: ${(err as Error).message}`);
    return undefined;
  }
}

function readGenesis(value: unknown, problems: string[]): { readonly hash: Uint8Array; readonly height: number; readonly timestamp?: number } | undefined {
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
  return { hash: fromHex(hash as string), height: height as number, ...(timestamp === undefined ? {} : { timestamp: timestamp as number }) };
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
      paramsMessage.read({ ...DEFAULT_PARAMS, [k]: v });
    } catch (err) {
      if ((err as ProtocolError).field === `params.${k}`) problems.push((err as Error).message);
    }
  }
  if (problems.length > before) return undefined;
  try {
    return paramsMessage.read({ ...DEFAULT_PARAMS, ...given });
  } catch (err) {
    problems.push((err as Error).message);
    return undefined;
  }
}

function readBrokerCa(value: unknown, at: (p: string) => string, problems: string[]): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) {
    problems.push('brokerCa: must be the path of the broker CA\'s PEM file');
    return null;
  }
  try {
    const path = at(value);
    if (statSync(path).size > MAX_PEM_FILE_BYTES) throw new Error(`larger than ${MAX_PEM_FILE_BYTES} bytes`);
    const pem = readFileSync(path, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "BEGIN CERTIFICATE" PEM block');
    return pem;
  } catch (err) {
    problems.push(`brokerCa: cannot use ${value}: ${(err as Error).message}`);
    return null;
  }
}

function readBoard(value: unknown, at: (p: string) => string, problems: string[]): BoardConfig | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) {
    problems.push('board: must be the path of a board config file (board-configs/<name>.json)');
    return null;
  }
  let parsed: unknown;
  try {
    const path = at(value);
    if (statSync(path).size > 64 * 1024) throw new Error('larger than 64 KiB');
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    problems.push(`board: cannot read ${value}: ${(err as Error).message}`);
    return null;
  }
  const result = validateBoardConfig(parsed);
  if (!result.ok) {
    for (const e of result.errors) problems.push(`board.${e.field}: ${e.message}`);
    return null;
  }
  return result.config;
}

/** The status page part of a config (null: off). Also read on its own from a config that is otherwise broken (config-fault.ts). */
export function readStatus(value: unknown, problems: string[]): RunConfig['status'] {
  if (value === undefined || value === false) return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push('status: must be false or { port, host? }');
    return null;
  }
  const s = value as Record<string, unknown>;
  for (const k of Object.keys(s)) if (k !== 'port' && k !== 'host') problems.push(`status.${k}: unknown field (known: port, host)`);
  const port = s['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) problems.push('status.port: must be a port number 1..65535');
  const host = s['host'] ?? '0.0.0.0';
  if (typeof host !== 'string' || !/^[0-9A-Za-z.:-]{1,253}$/.test(host)) problems.push('status.host: must be an address to listen on, such as 0.0.0.0 or 127.0.0.1');
  return { port: port as number, host: host as string };
}

