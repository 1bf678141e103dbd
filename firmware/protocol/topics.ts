// Topic layout (docs/components.md), part of the protocol: nodes, clerks and the root's broker
// roles (provisioning/broker/roles.ts) address the same topics. Everything lives under one prefix
// (default `btn/v1`) so several networks or protocol versions can share a broker. Segments that come from outside input
// (clerk fingerprints, node ids) are validated: a `+`, `#` or `/` in them would widen a
// subscription or address another node's topic [MQTT-4.7.1-1], NUL is forbidden [MQTT-1.5.4-2].
import { ProtocolError } from './errors.ts';

export const DEFAULT_TOPIC_PREFIX = 'btn/v1';
const MAX_SEGMENT = 128;
const MAX_TOPIC_BYTES = 65_535; // [MQTT-1.5.4-3] UTF-8 string length field is 16 bits

/** Throws ERR_PROTOCOL_TOPIC unless `value` is one safe topic level. */
export function topicSegment(value: unknown, label = 'topic segment'): string {
  if (typeof value !== 'string') throw new ProtocolError('ERR_PROTOCOL_TOPIC', `${label} must be a string, got ${typeof value}`);
  if (value.length === 0) throw new ProtocolError('ERR_PROTOCOL_TOPIC', `${label} must not be empty`);
  if (value.length > MAX_SEGMENT) throw new ProtocolError('ERR_PROTOCOL_TOPIC', `${label} is ${value.length} chars, max ${MAX_SEGMENT}`);
  // Printable ASCII minus the MQTT specials: fingerprints and ids are hex/base64url anyway.
  if (!/^[\x21-\x7e]+$/.test(value) || /[/+#]/.test(value)) {
    throw new ProtocolError('ERR_PROTOCOL_TOPIC', `${label} must be printable ASCII without '/', '+', '#', NUL or spaces`, label);
  }
  if (value.startsWith('$')) throw new ProtocolError('ERR_PROTOCOL_TOPIC', `${label} must not start with '$' (reserved, [MQTT-4.7.2-1])`);
  return value;
}

function blockHashSegment(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) throw new ProtocolError('ERR_PROTOCOL_TOPIC', 'a body topic names its block hash as 64 lowercase hex characters', 'block hash');
  return value;
}

/** A prefix is one or more safe segments joined by '/'. */
export function topicPrefix(value: unknown): string {
  if (typeof value !== 'string') throw new ProtocolError('ERR_PROTOCOL_TOPIC', 'topic prefix must be a string');
  if (value.length > 1024) throw new ProtocolError('ERR_PROTOCOL_TOPIC', 'topic prefix too long');
  value.split('/').forEach((s, i) => topicSegment(s, `topic prefix level ${i}`));
  return value;
}

export interface Topics {
  readonly prefix: string;
  readonly candidates: string;
  /** Wildcard filter matching seals for every clerk from every node (monitoring). */
  readonly allSeals: string;
  readonly final: string;
  /** Retained: the root-signed network manifest (params, primaries, committee, genesis). */
  readonly manifest: string;
  /** Retained. */
  readonly revocations: string;
  /** Retained: the root-signed update announcement (firmware/protocol/update-announcement.ts). */
  readonly updates: string;
  /** Filter over every node's status. */
  readonly allStatus: string;
  /** Filter over every candidate body (the broker's ACLs; a node subscribes to one body at a time). */
  readonly allBodies: string;
  /**
   * Retained while its candidate is open, header-first delivery only: the body of the candidate
   * whose block hash is `blockHashHex` (64 lowercase hex), fetched by the nodes whose ticket qualifies.
   */
  body(blockHashHex: string): string;
  /** Filter over the seals addressed to one clerk, from any node (what a clerk and a node subscribe to). */
  seals(clerkFingerprint: string): string;
  /**
   * Where node `nodeId` publishes its seal for a clerk: the last level names the sender, so the
   * broker can pin it to the node's own identity, and a receiver refuses a seal whose node id differs.
   */
  sealFrom(clerkFingerprint: string, nodeId: string): string;
  /** Retained, carries the last will `{"state":"offline"}`. */
  status(nodeId: string): string;
  telemetry(nodeId: string): string;
}

export function topicsFor(prefix: string = DEFAULT_TOPIC_PREFIX): Topics {
  const p = topicPrefix(prefix);
  return {
    prefix: p,
    candidates: `${p}/candidates`,
    allSeals: `${p}/seals/+/+`,
    final: `${p}/final`,
    manifest: `${p}/manifest`,
    revocations: `${p}/revocations`,
    updates: `${p}/updates`,
    allStatus: `${p}/nodes/+/status`,
    allBodies: `${p}/bodies/+`,
    body: (hash) => `${p}/bodies/${blockHashSegment(hash)}`,
    seals: (clerk) => `${p}/seals/${topicSegment(clerk, 'clerk fingerprint')}/+`,
    sealFrom: (clerk, nodeId) => `${p}/seals/${topicSegment(clerk, 'clerk fingerprint')}/${topicSegment(nodeId, 'node id')}`,
    status: (nodeId) => `${p}/nodes/${topicSegment(nodeId, 'node id')}/status`,
    telemetry: (nodeId) => `${p}/nodes/${topicSegment(nodeId, 'node id')}/telemetry`,
  };
}

/** Validates a subscription filter: '+' and '#' only as whole levels, '#' only last [MQTT-4.7.1-2/3]. */
export function assertTopicFilter(filter: string): string {
  if (filter.length === 0 || Buffer.byteLength(filter) > MAX_TOPIC_BYTES || filter.includes('\0')) {
    throw new ProtocolError('ERR_PROTOCOL_TOPIC', 'topic filter must be 1..65535 bytes without NUL');
  }
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    if (level === '#' && i !== levels.length - 1) throw new ProtocolError('ERR_PROTOCOL_TOPIC', `'#' must be the last level in ${JSON.stringify(filter)}`);
    if (level.length > 1 && /[+#]/.test(level)) throw new ProtocolError('ERR_PROTOCOL_TOPIC', `wildcards must fill a whole level in ${JSON.stringify(filter)}`);
  });
  return filter;
}

/** Validates a topic name for PUBLISH: no wildcards, no NUL [MQTT-3.3.2-2]. */
export function assertTopicName(topic: string): string {
  if (topic.length === 0 || Buffer.byteLength(topic) > MAX_TOPIC_BYTES || /[+#\0]/.test(topic)) {
    throw new ProtocolError('ERR_PROTOCOL_TOPIC', `invalid topic name ${JSON.stringify(topic.slice(0, 200))}`);
  }
  return topic;
}

/** Does `topic` match `filter`? [MQTT-4.7] ('$' topics never match a leading wildcard, [MQTT-4.7.2-1]). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true; // also matches the parent level: 'a/#' matches 'a'
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** The sender a seal topic names (its last level), or null when `topic` is not a seal topic under `prefix`. */
export function sealSender(prefix: string, topic: string): string | null {
  const rest = topic.startsWith(`${prefix}/seals/`) ? topic.slice(prefix.length + 7).split('/') : [];
  return rest.length === 2 && rest[1] !== '' ? rest[1]! : null;
}
