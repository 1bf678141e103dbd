// The node's status: one shape for status.json (written by the agent, read by `btn-node status`),
// the status page and /metrics, the status LED, and the retained MQTT status message. Outside
// input (a status.json another process wrote) is checked once here, by parseNodeStatus.
import type { SpinOutcomeKind } from '../sealing/engine.ts';
import { array, boolean, integer, literal, nullable, number, object, oneOf, optional, readWith, record, string, type Reader } from '../core/json.ts';

export const STATUS_VERSION = 1;

/** Activation states (also exported as a gauge, one series each: the Prometheus enum idiom). */
export const ACTIVATION_STATES = ['active', 'not-activated', 'revoked'] as const;
export type ActivationStateName = (typeof ACTIVATION_STATES)[number];

const RUN_STATES = ['idle', 'running', 'stopped'] as const;

export interface StatusFault {
  readonly key: string;
  readonly code: string;
  readonly message: string;
  readonly since: number;
}

export interface NodeStatus {
  readonly version: typeof STATUS_VERSION;
  readonly nodeId: string;
  readonly state: (typeof RUN_STATES)[number];
  readonly pid: number;
  readonly startedAt: number | null;
  readonly updatedAt: number;
  readonly uptimeMs: number;
  readonly activation: { readonly state: ActivationStateName; readonly reason?: string };
  readonly tpm: {
    readonly manufacturer: string;
    readonly vendor: string;
    readonly firmwareVersion: string;
    readonly sealingKey: { readonly handle: string; readonly publicKeyPem: string; readonly name: string } | null;
    /** The sealing key signed a fresh self-test message at the agent's start, verified in software (absent: not run). */
    readonly selfTest?: { readonly verified: boolean; readonly at: number; readonly error?: string };
  } | null;
  readonly broker: {
    readonly connected: boolean;
    readonly state: string;
    /** The user name the node connects as (its node id once its TPM released its broker identity). */
    readonly user?: string;
    /** Connections the broker refused, and the last reason (bad credentials, not authorized). */
    readonly refused?: number;
    readonly refusal?: string;
    /** Why the node cannot reach the broker (TLS name or CA, DNS, no route), while not connected. */
    readonly failure?: string;
    /** Publishes the broker refused (its ACL: a role or topic the node may not use), and the last one's reason and topic. */
    readonly publishRefused?: number;
    readonly publishRefusal?: string;
  };
  readonly chain: { readonly height: number; readonly tipHash: string; readonly finalizedHeight: number; readonly paramsVersion: number };
  /** The root keys the held manifest names, each with its window during a rotation (ISO text; open ends left out). Absent in older files and before a manifest. */
  readonly rootKeys?: readonly { readonly publicKey: string; readonly from?: string; readonly until?: string }[];
  /** What the seal journal holds: slots recorded and the highest height decided (an update's health check compares them). Absent in older files. */
  readonly journal?: { readonly entries: number; readonly highestHeight: number };
  readonly seals: { readonly made: number; readonly reused: number; readonly published: number; readonly notDelivered: number };
  readonly spins: Readonly<Record<SpinOutcomeKind, number>>;
  readonly spinning: number;
  /** Candidates not sealed, by reason (validation reasons, journal refusals). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Messages dropped as invalid, by topic kind. */
  readonly invalidMessages: Readonly<Record<string, number>>;
  readonly lastErrors: readonly { readonly at: number; readonly code: string; readonly message: string }[];
  /** How late the event loop ran over the last minute (ms): what floods or big blocks cost everything else. Absent in older files. */
  readonly eventLoop?: { readonly p99Ms: number; readonly maxMs: number };
  /** Faults now (full or read-only disk, journal down, TPM missing); empty when healthy. Absent in older files. */
  readonly faults?: readonly StatusFault[];
  // What the household services add for the page (the agent does not know them):
  readonly board?: string;
  /** The system user the agent runs as (btn-node under the unit): root would be a packaging fault. */
  readonly user?: string;
  /** What the board's status LED shows now and means (firmware/led PATTERN_MEANING), on boards with one. */
  readonly statusLight?: string;
  /** The running version and root slot, the other slot's version, the last update's outcome (firmware/update). */
  readonly software?: Software;
  /** An update the network announced, as the node follows it (firmware/update/announcements.ts); added by `btn-node run`. */
  readonly update?: { readonly state: 'idle' | 'waiting' | 'downloading' | 'requested' | 'refused'; readonly version?: string; readonly reason?: string };
  /** The latest notices (a problem that lasted, or its end), newest last; added by the household services. */
  readonly notices?: readonly { readonly kind: 'problem' | 'back-to-normal'; readonly text: string; readonly at: number }[];
}

export interface Software {
  /** null: the version file is unreadable. */
  readonly version: string | null;
  readonly slot: string | null;
  /** What the other root slot holds, as RAUC last told (version null: RAUC does not know). */
  readonly other: { readonly slot: string | null; readonly version: string | null } | null;
  /** "updated to 0.3.0", "rolled back from 0.3.1: the broker is not connected (...)". */
  readonly lastUpdate: { readonly text: string; readonly at: number } | null;
}

/** The retained status message on the node's status topic (the last will replaces it with offline). */
// A type, not an interface: the transport publishes plain JSON objects (index-signature compatible).
export type NodeStatusMessage = {
  readonly state: 'online';
  readonly nodeId: string;
  readonly activation: ActivationStateName;
  readonly height: number;
  readonly finalizedHeight: number;
  readonly sealsMade: number;
  readonly sealsPublished: number;
  readonly spinning: number;
  readonly at: number;
  /** Which account the agent runs as (an operator checks the service is not root), and its TPM. */
  readonly user: string;
  readonly tpm: { readonly manufacturer: string; readonly firmwareVersion: string } | null;
};

export function statusMessageOf(s: NodeStatus, user: string): NodeStatusMessage {
  return {
    state: 'online', nodeId: s.nodeId, activation: s.activation.state, height: s.chain.height, finalizedHeight: s.chain.finalizedHeight,
    sealsMade: s.seals.made, sealsPublished: s.seals.published, spinning: s.spinning, at: s.updatedAt,
    user, tpm: s.tpm === null ? null : { manufacturer: s.tpm.manufacturer, firmwareVersion: s.tpm.firmwareVersion },
  };
}

// ---- reading a status another process wrote ----

const MAX_TEXT = 4096;
const MAX_ENTRIES = 256;
const text = string({ max: MAX_TEXT });
const int = integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const counts = record(int, { maxKeys: MAX_ENTRIES });
const delayMs = number({ min: 0, max: 3_600_000 });
// Not exact: a status written by a newer agent (more fields) is still read; unknown keys are left out.
const open = { exact: false } as const;

// Every outcome kind of the engine (the type check fails when the engine gains one).
const SPIN_COUNTS = {
  sealed: int, refused: int, inactive: int, 'better-seal': int, aborted: int, deadline: int, 'max-rounds': int, failed: int,
} as const satisfies Record<SpinOutcomeKind, Reader<number>>;

const statusReader: Reader<NodeStatus> = object({
  version: literal(STATUS_VERSION),
  nodeId: text,
  state: oneOf(RUN_STATES),
  pid: int,
  startedAt: nullable(int),
  updatedAt: int,
  uptimeMs: int,
  activation: object({ state: oneOf(ACTIVATION_STATES), reason: optional(text) }, open),
  tpm: nullable(object({
    manufacturer: text,
    vendor: text,
    firmwareVersion: text,
    sealingKey: nullable(object({ handle: text, publicKeyPem: text, name: text }, open)),
    selfTest: optional(object({ verified: boolean(), at: int, error: optional(text) }, open)),
  }, open)),
  broker: object({
    connected: boolean(), state: text, user: optional(text), refused: optional(int), refusal: optional(text), failure: optional(text), publishRefused: optional(int), publishRefusal: optional(text),
  }, open),
  chain: object({ height: int, tipHash: text, finalizedHeight: int, paramsVersion: int }, open),
  journal: optional(object({ entries: int, highestHeight: int }, open)),
  rootKeys: optional(array(object({ publicKey: text, from: optional(text), until: optional(text) }, open), { max: 16 })),
  seals: object({ made: int, reused: int, published: int, notDelivered: int }, open),
  spins: object(SPIN_COUNTS, open),
  spinning: int,
  rejected: counts,
  invalidMessages: counts,
  lastErrors: array(object({ at: int, code: text, message: text }, open), { max: MAX_ENTRIES }),
  faults: optional(array(object({ key: text, code: text, message: text, since: int }, open), { max: MAX_ENTRIES })),
  eventLoop: optional(object({ p99Ms: delayMs, maxMs: delayMs }, open)),
  board: optional(text),
  user: optional(text),
  statusLight: optional(text),
  update: optional(object({ state: oneOf(['idle', 'waiting', 'downloading', 'requested', 'refused'] as const), version: optional(text), reason: optional(text) }, open)),
  notices: optional(array(object({ kind: oneOf(['problem', 'back-to-normal'] as const), text, at: int }, open), { max: MAX_ENTRIES })),
  software: optional(object({
    version: nullable(text),
    slot: nullable(text),
    other: nullable(object({ slot: nullable(text), version: nullable(text) }, open)),
    lastUpdate: nullable(object({ text, at: int }, open)),
  }, open)),
}, open);

/** The status in `value` (parsed JSON), checked field by field; throws TypeError naming the first bad field. */
export function parseNodeStatus(value: unknown): NodeStatus {
  return readWith(statusReader, value, 'status', (err) => new TypeError(err.message));
}
