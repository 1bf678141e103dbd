// Who may publish and subscribe to what on the network's broker (mosquitto's dynamic security
// ACLs). Signed messages stop forged content; these roles stop forged senders and floods: a
// secondary node may publish only its own status and telemetry and seals, a clerk candidates, their
// bodies and finals, the root the manifest, revocation lists and update announcements. A node's own topics are pinned by a role of
// its own (mosquitto 2.0's dynamic security has no `%u` substitution in ACLs): its user name is the
// node id the root assigned at activation. Anything not allowed here is denied (the plugin's
// default for publishing and subscribing; anonymous clients are refused at connect).
import { topicsFor } from '../../firmware/protocol/topics.ts';

export type BrokerRole = 'secondary' | 'clerk' | 'root';

export interface Acl {
  readonly acltype: 'publishClientSend' | 'subscribePattern' | 'subscribeLiteral';
  readonly topic: string;
  readonly allow: boolean;
  /** Checked before lower ones (the plugin takes the first match); default 0. */
  readonly priority?: number;
}

/** The role's name on the broker: one set of roles per topic prefix (network). */
export function roleName(role: BrokerRole, prefix: string): string {
  return `btn-${role}:${prefix}`;
}

/** The role that pins one node's own topics (its status and telemetry). */
export function nodeRoleName(prefix: string, nodeId: string): string {
  return `btn-node:${prefix}:${nodeId}`;
}

export function nodeAcls(prefix: string, nodeId: string): Acl[] {
  const t = topicsFor(prefix);
  // Its seals to any clerk, under its own name: the receivers refuse a seal whose node id is not the topic's.
  const seals = `${t.prefix}/seals/+/${nodeId}`;
  return [t.status(nodeId), t.telemetry(nodeId), seals].map((topic) => ({ acltype: 'publishClientSend', topic, allow: true }));
}

export function roleAcls(role: BrokerRole, prefix: string): Acl[] {
  const t = topicsFor(prefix);
  const send = (topic: string): Acl => ({ acltype: 'publishClientSend', topic, allow: true });
  const sub = (topic: string): Acl => ({ acltype: 'subscribePattern', topic, allow: true });
  const network = [t.candidates, t.final, t.manifest, t.revocations, t.updates].map(sub);
  // Header-first bodies: a node reads one body at a time, by its block hash; a wildcard
  // subscription (every body of the network) is refused before the pattern could allow it.
  const oneBody = [
    { acltype: 'subscribeLiteral', topic: t.allBodies, allow: false, priority: 1 },
    { acltype: 'subscribeLiteral', topic: `${t.prefix}/bodies/#`, allow: false, priority: 1 },
    sub(t.allBodies),
  ] as const satisfies readonly Acl[];
  switch (role) {
    case 'secondary':
      // Its own status, telemetry and seals: nodeAcls, in a role of its own.
      return [...network, sub(t.allSeals), ...oneBody];
    case 'clerk':
      return [send(t.candidates), send(t.final), send(t.allBodies), ...network, sub(t.allSeals), sub(t.allStatus)];
    case 'root':
      return [send(t.manifest), send(t.revocations), send(t.updates), ...network, sub(t.allStatus)];
  }
}
