// The configuration of `btn-node run` (one JSON file), read with the shared JSON readers
// (firmware/core/json.ts) so that every wrong field is named at once.
//
// FILE is JSON (at most 64 KiB):
//   { "tcti": "device:/dev/tpmrm0", "sealingHandle": "0x81000B70", "broker": "mqtt://host:1883",
//     "topicPrefix": "btn/v1", "stateDir": "/var/lib/btn-node", "nodeId": "optional",
//     "network": "mainnet", "journal": "optional path", "protocol": "auto" | 4 | 5, "logLevel": "info",
//     "brokerCa": "broker-ca.pem" (mqtts://: the network broker's CA, pinned; the system's CAs are not used),
//     "brokerFallbacks": ["mqtts://member-2:8883", ...] (a broker cluster's other members, tried in turn; at most 16),
//     "brokerSubscribeQos": 0 | 1 (the highest QoS asked for in SUBSCRIBE; 0 on a nats-server cluster, default 1),
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
//   "homeAssistant": true | false (Home Assistant discovery on the broker; default: only without root)
//   "noticeAfterMinutes": 10 (a problem is announced on the page and to Home Assistant once it lasted this long; 1..1440)
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { MAX_BOARD_CONFIG_BYTES, validateBoardConfig, type BoardConfig } from '../board/index.ts';
import { PrimaryKeySet } from '../protocol/chain/primaries.ts';
import { DEFAULT_PARAMS, PARAM_FIELDS, paramsMessage, type NetworkParams } from '../protocol/params.ts';
import { NETWORK_NAME } from '../protocol/network-manifest.ts';
import { Committee, committeeProblem, MAX_COMMITTEE } from '../protocol/quorum.ts';
import type { NetworkTerms } from '../node/network-state.ts';
import { topicPrefix, DEFAULT_TOPIC_PREFIX } from '../protocol/topics.ts';
import { DEFAULT_NOTICE_AFTER_MS } from '../status/notices.ts';
import { checkSealingHandle, parseHandle, parseTcti } from '../../tpm/index.ts';
import { fromHex } from '../core/bytes.ts';
import { CodedError } from '../core/errors.ts';
import {
  array, boolean, byType, hex, hexText, integer, invalid, literal, map, object, oneOf, optional, optionalFields, problemsOf, refine, string,
  JsonError, type Infer, type Reader,
} from '../core/json.ts';

export const DEFAULT_STATE_DIR = '/var/lib/btn-node';
/** The seal journal's file in the state directory, unless a config names another. */
export const JOURNAL_FILE = 'seal-journal';
export const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_PEM_FILE_BYTES = 1024 * 1024;
const MAX_PRIMARIES = 1024;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** Terms a config may pin only without a root: with one, they come from its signed manifest. */
const PINNED = ['primaries', 'genesis', 'params', 'committee'] as const;
export const DEFAULT_NETWORK = 'devnet';

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
  /** A broker cluster's other members (the transport's fallbackUrls); empty: one broker. */
  readonly brokerFallbacks: readonly string[];
  /** The highest QoS asked for in SUBSCRIBE (the transport's maxSubscribeQos). */
  readonly brokerSubscribeQos: 0 | 1;
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
  /**
   * Publish Home Assistant discovery on the broker. Default: only without a root, i.e. on a
   * household's own broker; a network broker whose accounts the root manages refuses it (a node
   * may publish only its own status, telemetry and seals there), and a household's Home
   * Assistant cannot read that broker anyway.
   */
  readonly homeAssistant: boolean;
  /** A problem is announced (status page, Home Assistant) once it has lasted this long, ms. */
  readonly noticeAfterMs: number;
}

export class RunConfigError extends CodedError<'ERR_RUN_CONFIG'> {
  override readonly name = 'RunConfigError';
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super('ERR_RUN_CONFIG', `config ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  - ${problems.join('\n  - ')}`, { file, problems });
  }
}

/** The message a check throws, or undefined when it passes (for refine over checks written elsewhere). */
function thrown(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The status page part of a config: false (off) or where it listens. Also read on its own from a config that is otherwise broken (config-fault.ts). */
export const STATUS_READER: Reader<RunConfig['status']> = byType<RunConfig['status']>({
  boolean: map(literal(false), () => null),
  object: map(object({
    port: integer({ min: 1, max: 65_535 }),
    host: optional(string({ min: 1, max: 253, pattern: /^[0-9A-Za-z.:-]+$/, what: 'an address to listen on, such as 0.0.0.0 or 127.0.0.1' })),
  }), (s) => ({ port: s.port, host: s.host ?? '0.0.0.0' })),
});

const ROOT_READER = object({
  url: refine(string({ min: 1, max: 2048 }), (url) => {
    const parsed = URL.canParse(url) ? new URL(url) : null;
    return parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.username !== '' || parsed.password !== ''
      ? 'must be an http:// or https:// URL of the root node, without credentials' : undefined;
  }),
  publicKey: hex({ bytes: 32 }),
  revocationPollMs: optional(integer({ min: 100, max: 24 * 3600_000 })),
  timeoutMs: optional(integer({ min: 500, max: 120_000 })),
});

const GENESIS_READER = object({
  hash: hex({ bytes: 32 }),
  height: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  timestamp: optional(integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
});

/** Parameters laid over the defaults; the whole set must still be valid (a deadline of at least one spin interval). */
const PARAMS_READER = map(object({ version: optional(integer({ min: 1, max: 2 ** 31 })), ...optionalFields(PARAM_FIELDS) }), (given, path): NetworkParams => {
  try {
    return paramsMessage.read({ ...DEFAULT_PARAMS, ...given });
  } catch (err) {
    return invalid(path, (err as Error).message);
  }
});

const COMMITTEE_READER = refine(object({
  members: array(hexText({ bytes: 32 }), { min: 1, max: MAX_COMMITTEE }),
  quorum: integer({ min: 1, max: MAX_COMMITTEE }),
}), (c) => committeeProblem(c.members, c.quorum));

/** A PEM or text file beside the config, size-capped. */
function readSmallFile(path: string, cap: number): string {
  const size = statSync(path).size;
  if (size > cap) throw new Error(`${path} is ${size} bytes, at most ${cap}`);
  return readFileSync(path, 'utf8');
}

/** The config's readers; paths in it resolve against `base`, and the files they name are read and checked here. */
/** A broker cluster's members beside `broker`, at most (the transport's own bound). */
const MAX_BROKER_FALLBACKS = 16;
const BROKER_URL_READER = string({ min: 1, max: 4096, pattern: /^(mqtts?|tcp|wss?):\/\/[^\s]+$/, what: 'an mqtt://, mqtts://, tcp://, ws:// or wss:// URL' });

function configReader(base: string) {
  const at = (p: string): string => (isAbsolute(p) ? p : join(base, p));
  const path = string({ min: 1, max: 4096, what: 'a path' });
  const fileOf = <T>(what: string, cap: number, use: (text: string) => T): Reader<T> => map(path, (p, where) => {
    let text: string;
    try {
      text = readSmallFile(at(p), cap);
    } catch (err) {
      return invalid(where, `cannot read ${what} ${p}: ${(err as Error).message}`);
    }
    try {
      return use(text);
    } catch (err) {
      return invalid(where, `${p}: ${(err as Error).message}`);
    }
  }, what);
  // A primary is a PEM key written inline or the path of a PEM file (which may hold several).
  const primary = map(string({ min: 1, max: 64 * 1024, what: 'a PEM key or a path' }), (item, where): string[] => {
    let text = item;
    if (!item.includes('-----BEGIN')) {
      try {
        text = readSmallFile(at(item), MAX_PEM_FILE_BYTES);
      } catch (err) {
        return invalid(where, `cannot read ${item}: ${(err as Error).message}`);
      }
    }
    const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
    if (blocks.length === 0) invalid(where, 'no "BEGIN PUBLIC KEY" PEM block');
    for (const pem of blocks) {
      const problem = thrown(() => new PrimaryKeySet([pem]));
      if (problem !== undefined) invalid(where, problem);
    }
    return blocks;
  });
  return object({
    tcti: refine(string({ min: 1, max: 4096 }), (t) => thrown(() => parseTcti(t))),
    sealingHandle: optional(byType<number>({
      number: map(integer({ min: 0, max: 0xffff_ffff }), (h, where) => {
        const problem = thrown(() => checkSealingHandle(h));
        return problem === undefined ? h : invalid(where, problem);
      }),
      string: map(string({ min: 1, max: 20, what: 'a hex string such as "0x81000B70"' }), (h, where) => {
        try {
          return parseHandle(h);
        } catch (err) {
          return invalid(where, (err as Error).message);
        }
      }),
    })),
    broker: BROKER_URL_READER,
    brokerFallbacks: optional(array(BROKER_URL_READER, { min: 0, max: MAX_BROKER_FALLBACKS })),
    brokerSubscribeQos: optional(map(integer({ min: 0, max: 1 }), (q) => (q === 0 ? 0 : 1), '0 or 1')),
    brokerCa: optional(fileOf('the broker CA', MAX_PEM_FILE_BYTES, (pem) => {
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "BEGIN CERTIFICATE" PEM block');
      return pem;
    })),
    topicPrefix: optional(refine(string({ min: 1, max: 4096 }), (p) => thrown(() => topicPrefix(p)))),
    stateDir: optional(map(path, at)),
    nodeId: optional(string({ min: 1, max: 128, pattern: /^[0-9a-zA-Z_-]+$/, what: '1..128 characters of [0-9a-zA-Z_-]' })),
    network: optional(NETWORK_NAME),
    primaries: optional(byType<string[]>({
      string: primary,
      array: map(array(primary, { min: 1, max: MAX_PRIMARIES }), (lists) => lists.flat()),
    })),
    genesis: optional(GENESIS_READER),
    params: optional(PARAMS_READER),
    committee: optional(COMMITTEE_READER),
    devnetActive: optional(boolean()),
    journal: optional(map(path, at)),
    protocol: optional(byType<'auto' | 4 | 5>({ string: literal('auto'), number: map(integer({ min: 4, max: 5 }), (n) => (n === 4 ? 4 : 5), '4 or 5') })),
    logLevel: optional(oneOf(LOG_LEVELS)),
    root: optional(ROOT_READER),
    // Read on its own (readBoard): a board file's problems are each named, as board.<field>.
    board: optional(path),
    status: optional(STATUS_READER),
    homeAssistant: optional(boolean()),
    noticeAfterMinutes: optional(integer({ min: 1, max: 1440 })),
  });
}

type ConfigFields = Infer<ReturnType<typeof configReader>>;

export function loadRunConfig(file: string): RunConfig {
  let text: string;
  try {
    text = readSmallFile(file, MAX_CONFIG_BYTES);
  } catch (err) {
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

/** Validates a parsed config, naming every wrong field at once; relative paths resolve against the config file's directory. */
export function parseRunConfig(value: unknown, file: string): RunConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RunConfigError(file, ['must be a JSON object']);
  const reader = configReader(dirname(resolve(file)));
  const raw = value as Record<string, unknown>;
  let c: ConfigFields | undefined;
  let problems: string[];
  try {
    c = reader.read(value, '');
    problems = [];
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    problems = problemsOf(reader, value, '').map((p) => `${p.path}: ${p.expected}`);
  }
  problems.push(...combinationProblems(raw));
  const board = typeof raw['board'] === 'string' ? readBoard(raw['board'], dirname(resolve(file)), problems) : null;
  let pinned: NetworkTerms | null = null;
  if (c !== undefined && c.root === undefined && problems.length === 0) {
    const network = c.network ?? DEFAULT_NETWORK;
    const params = c.params ?? DEFAULT_PARAMS;
    try {
      const committee = c.committee === undefined ? null : new Committee(network, c.committee.members.map((m) => fromHex(m)), c.committee.quorum);
      pinned = { version: params.version, params, primaries: new PrimaryKeySet(c.primaries!), committee, genesis: c.genesis! };
    } catch (err) {
      problems.push(`committee: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0 || c === undefined) throw new RunConfigError(file, problems);
  const stateDir = c.stateDir ?? DEFAULT_STATE_DIR;
  return {
    tcti: c.tcti,
    sealingHandle: c.sealingHandle,
    broker: c.broker,
    brokerCa: c.brokerCa ?? null,
    brokerFallbacks: c.brokerFallbacks ?? [],
    brokerSubscribeQos: c.brokerSubscribeQos ?? 1,
    topicPrefix: c.topicPrefix ?? DEFAULT_TOPIC_PREFIX,
    stateDir,
    nodeId: c.nodeId,
    network: c.network ?? DEFAULT_NETWORK,
    pinned,
    devnetActive: c.devnetActive ?? false,
    journal: c.journal ?? join(stateDir, JOURNAL_FILE),
    protocol: c.protocol ?? 'auto',
    logLevel: c.logLevel ?? 'info',
    root: c.root === undefined ? undefined : { url: c.root.url, publicKey: c.root.publicKey, revocationPollMs: c.root.revocationPollMs, timeoutMs: c.root.timeoutMs },
    board,
    status: c.status ?? null,
    homeAssistant: c.homeAssistant ?? c.root === undefined,
    noticeAfterMs: (c.noticeAfterMinutes ?? DEFAULT_NOTICE_AFTER_MS / 60_000) * 60_000,
  };
}

/** The board config file the config names, every wrong field of it named as board.<field>; null when unusable. */
function readBoard(name: string, base: string, problems: string[]): BoardConfig | null {
  let value: unknown;
  try {
    value = JSON.parse(readSmallFile(isAbsolute(name) ? name : join(base, name), MAX_BOARD_CONFIG_BYTES));
  } catch (err) {
    problems.push(`board: cannot read ${name}: ${(err as Error).message}`);
    return null;
  }
  const result = validateBoardConfig(value);
  if (result.ok) return result.config;
  for (const e of result.errors) problems.push(`board.${e.field}: ${e.message}`);
  return null;
}

/** The rules between fields, named beside the fields' own problems: they need only what the config says, not whether it is well formed. */
function combinationProblems(o: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (o['root'] !== undefined) {
    for (const k of PINNED) if (o[k] !== undefined) problems.push(`${k}: comes from the root's signed network manifest when root is set; leave it out`);
    if (o['network'] === undefined) problems.push('network: the network\'s name is required with root (the manifest and the committee\'s votes name it)');
    if (o['devnetActive'] === true) problems.push('devnetActive: cannot be true together with root (a provisioned node is active only through the root node)');
    const nodeId = o['nodeId'];
    if (nodeId !== undefined && (typeof nodeId !== 'string' || !/^[0-9a-f]{64}$/.test(nodeId))) {
      problems.push('nodeId: with root, the node id is the one the root assigns (SHA-256 of the sealing key, 64 lower-case hex); leave it out');
    }
  } else {
    if (o['primaries'] === undefined) problems.push('primaries: required without root (a path to a PEM file or an array of PEM keys or paths)');
    if (o['genesis'] === undefined) problems.push('genesis: required without root ({ hash, height, timestamp? })');
  }
  const broker = o['broker'];
  if (o['brokerCa'] !== undefined && typeof broker === 'string' && !broker.startsWith('mqtts://')) problems.push('brokerCa: only for an mqtts:// broker');
  // One pinned CA and one scheme for the whole cluster: a fallback must not quietly drop TLS.
  const fallbacks = o['brokerFallbacks'];
  if (typeof broker === 'string' && Array.isArray(fallbacks)) {
    const scheme = (u: string): string => u.slice(0, u.indexOf('://'));
    for (const [i, u] of fallbacks.entries()) if (typeof u === 'string' && u.includes('://') && scheme(u) !== scheme(broker)) problems.push(`brokerFallbacks[${i}]: must use the broker's scheme (${scheme(broker)}://)`);
  }
  return problems;
}
