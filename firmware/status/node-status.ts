// The node's status: one shape for status.json (written by the agent, read by `btn-node status`),
// the status page and /metrics, the status LED, and the retained MQTT status message. Outside
// input (a status.json another process wrote) is checked once here, by parseNodeStatus.
import type { SpinOutcomeKind } from '../sealing/engine.ts';

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
  } | null;
  readonly broker: {
    readonly connected: boolean;
    readonly state: string;
    /** The user name the node connects as (its node id once its TPM released its broker identity). */
    readonly user?: string;
    /** Connections the broker refused, and the last reason (bad credentials, not authorized). */
    readonly refused?: number;
    readonly refusal?: string;
  };
  readonly chain: { readonly height: number; readonly tipHash: string; readonly finalizedHeight: number; readonly paramsVersion: number };
  readonly seals: { readonly made: number; readonly reused: number; readonly published: number; readonly notDelivered: number };
  readonly spins: Readonly<Record<SpinOutcomeKind, number>>;
  readonly spinning: number;
  /** Candidates not sealed, by reason (validation reasons, journal refusals). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Messages dropped as invalid, by topic kind. */
  readonly invalidMessages: Readonly<Record<string, number>>;
  readonly lastErrors: readonly { readonly at: number; readonly code: string; readonly message: string }[];
  /** Faults now (full or read-only disk, journal down, TPM missing); empty when healthy. Absent in older files. */
  readonly faults?: readonly StatusFault[];
  // What the household services add for the page (the agent does not know them):
  readonly board?: string;
  /** The system user the agent runs as (btn-node under the unit): root would be a packaging fault. */
  readonly user?: string;
  /** What the board's status LED shows now and means (firmware/led PATTERN_MEANING), on boards with one. */
  readonly statusLight?: string;
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

class Invalid extends Error {}
type Doc = Readonly<Record<string, unknown>>;

function doc(v: unknown, at: string): Doc {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Invalid(`${at} is not an object`);
  return v as Doc;
}
function str(d: Doc, k: string, at: string): string {
  const v = d[k];
  if (typeof v !== 'string' || v.length > MAX_TEXT) throw new Invalid(`${at}.${k} is not a string of at most ${MAX_TEXT} characters`);
  return v;
}
function num(d: Doc, k: string, at: string): number {
  if (typeof d[k] !== 'number' || !Number.isFinite(d[k])) throw new Invalid(`${at}.${k} is not a number`);
  return d[k];
}
function optStr(d: Doc, k: string, at: string): void {
  if (d[k] !== undefined) str(d, k, at);
}
function oneOf(d: Doc, k: string, allowed: readonly string[], at: string): void {
  if (!allowed.includes(d[k] as string)) throw new Invalid(`${at}.${k} is not one of ${allowed.join(', ')}`);
}
function counts(d: Doc, k: string, at: string): void {
  const r = doc(d[k], `${at}.${k}`);
  const keys = Object.keys(r);
  if (keys.length > MAX_ENTRIES) throw new Invalid(`${at}.${k} has more than ${MAX_ENTRIES} entries`);
  for (const key of keys) num(r, key, `${at}.${k}`);
}
function list(d: Doc, k: string, at: string, each: (e: Doc, at: string) => void): void {
  const v = d[k];
  if (!Array.isArray(v) || v.length > MAX_ENTRIES) throw new Invalid(`${at}.${k} is not a list of at most ${MAX_ENTRIES}`);
  v.forEach((e: unknown, i) => each(doc(e, `${at}.${k}[${i}]`), `${at}.${k}[${i}]`));
}

/** The status in `value` (parsed JSON), checked field by field; throws TypeError naming the first bad field. */
export function parseNodeStatus(value: unknown): NodeStatus {
  try {
    const s = doc(value, 'status');
    if (s['version'] !== STATUS_VERSION) throw new Invalid(`status.version is not ${STATUS_VERSION}`);
    str(s, 'nodeId', 'status');
    oneOf(s, 'state', RUN_STATES, 'status');
    num(s, 'pid', 'status');
    if (s['startedAt'] !== null) num(s, 'startedAt', 'status');
    num(s, 'updatedAt', 'status');
    num(s, 'uptimeMs', 'status');
    const a = doc(s['activation'], 'status.activation');
    oneOf(a, 'state', ACTIVATION_STATES, 'status.activation');
    optStr(a, 'reason', 'status.activation');
    if (s['tpm'] !== null) {
      const t = doc(s['tpm'], 'status.tpm');
      for (const k of ['manufacturer', 'vendor', 'firmwareVersion']) str(t, k, 'status.tpm');
      if (t['sealingKey'] !== null) {
        const k = doc(t['sealingKey'], 'status.tpm.sealingKey');
        for (const f of ['handle', 'publicKeyPem', 'name']) str(k, f, 'status.tpm.sealingKey');
      }
    }
    const b = doc(s['broker'], 'status.broker');
    if (typeof b['connected'] !== 'boolean') throw new Invalid('status.broker.connected is not a boolean');
    str(b, 'state', 'status.broker');
    if (b['user'] !== undefined) str(b, 'user', 'status.broker');
    if (b['refused'] !== undefined) num(b, 'refused', 'status.broker');
    if (b['refusal'] !== undefined) str(b, 'refusal', 'status.broker');
    const c = doc(s['chain'], 'status.chain');
    for (const k of ['height', 'finalizedHeight', 'paramsVersion']) num(c, k, 'status.chain');
    str(c, 'tipHash', 'status.chain');
    const seals = doc(s['seals'], 'status.seals');
    for (const k of ['made', 'reused', 'published', 'notDelivered']) num(seals, k, 'status.seals');
    counts(s, 'spins', 'status');
    num(s, 'spinning', 'status');
    counts(s, 'rejected', 'status');
    counts(s, 'invalidMessages', 'status');
    list(s, 'lastErrors', 'status', (e, at) => { num(e, 'at', at); str(e, 'code', at); str(e, 'message', at); });
    if (s['faults'] !== undefined) list(s, 'faults', 'status', (f, at) => { for (const k of ['key', 'code', 'message']) str(f, k, at); num(f, 'since', at); });
    for (const k of ['board', 'user', 'statusLight']) optStr(s, k, 'status');
    return value as NodeStatus;
  } catch (err) {
    if (err instanceof Invalid) throw new TypeError(err.message);
    throw err;
  }
}
