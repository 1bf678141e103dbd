// The node's /metrics for operators, in the Prometheus text format (firmware/core/prometheus.ts).
import { family } from '../core/prometheus.ts';
import { ACTIVATION_STATES, type NodeStatus } from './node-status.ts';

export { escapeLabel, METRICS_CONTENT_TYPE } from '../core/prometheus.ts';

export function renderMetrics(s: NodeStatus): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, series: readonly { labels?: Record<string, string>; value: number }[]): void => {
    out.push(family(name, type, help, series));
  };
  const node = { node: s.nodeId };
  metric('btn_seals_made_total', 'counter', 'Seals signed by the TPM.', [{ labels: node, value: s.seals.made }]);
  metric('btn_seals_accepted_total', 'counter', 'Seals delivered to and acknowledged by the broker.', [{ labels: node, value: s.seals.published }]);
  if (s.seals.notDelivered !== undefined) metric('btn_seals_not_delivered_total', 'counter', 'Seals that could not be delivered before their deadline.', [{ labels: node, value: s.seals.notDelivered }]);
  const rejected = Object.entries(s.rejected ?? {}).slice(0, 100);
  metric('btn_seals_rejected_total', 'counter', 'Candidates not sealed, by reason.', rejected.map(([reason, value]) => ({ labels: { ...node, reason }, value })));
  const states = new Set<string>([...ACTIVATION_STATES, s.activation.state]);
  metric('btn_activation_state', 'gauge', 'Activation state of the node (1 for the current state).', [...states].map((state) => ({ labels: { ...node, state }, value: state === s.activation.state ? 1 : 0 })));
  metric('btn_broker_connected', 'gauge', '1 when the MQTT broker connection is up.', [{ labels: node, value: s.broker.connected ? 1 : 0 }]);
  metric('btn_broker_refused_total', 'counter', 'What the broker refused: connections (credentials, ACL) and publishes (ACL).', [
    { labels: { ...node, what: 'connection' }, value: s.broker.refused ?? 0 }, { labels: { ...node, what: 'publish' }, value: s.broker.publishRefused ?? 0 },
  ]);
  metric('btn_tpm_up', 'gauge', '1 when the TPM was found and answered.', [{ labels: s.tpm === null ? node : { ...node, vendor: s.tpm.vendor, firmware: s.tpm.firmwareVersion }, value: s.tpm === null ? 0 : 1 }]);
  if (s.eventLoop !== undefined) {
    metric('btn_event_loop_delay_seconds', 'gauge', 'How late the event loop ran over the last minute: the highest 10 s window p99, and the longest delay.', [
      { labels: { ...node, stat: 'p99' }, value: s.eventLoop.p99Ms / 1000 }, { labels: { ...node, stat: 'max' }, value: s.eventLoop.maxMs / 1000 },
    ]);
  }
  metric('btn_uptime_seconds', 'gauge', 'Seconds since the agent started.', [{ labels: node, value: Math.floor(s.uptimeMs / 1000) }]);
  if (s.chain !== undefined) metric('btn_chain_height', 'gauge', 'Height of the chain tip the node knows.', [{ labels: node, value: s.chain.height }]);
  metric('btn_faults', 'gauge', 'Faults the node has now (full or read-only disk, journal down, TPM missing).', [{ labels: node, value: (s.faults ?? []).length }]);
  metric('btn_last_errors', 'gauge', 'Errors kept in the recent-errors list.', [{ labels: node, value: s.lastErrors.length }]);
  return out.join('\n') + '\n';
}
