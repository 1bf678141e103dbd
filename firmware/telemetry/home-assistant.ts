// Home Assistant MQTT discovery: retained config messages under homeassistant/sensor/... make the
// node appear in a household's Home Assistant by itself; availability follows the agent's retained
// status (`{"state":"online"}`, and the last will `{"state":"offline"}`).
import type { Topics } from '../transport/topics.ts';

export const DISCOVERY_PREFIX = 'homeassistant';

interface Metric {
  readonly key: string;
  readonly name: string;
  readonly template: string;
  readonly unit?: string;
  readonly deviceClass?: string;
  readonly stateClass?: 'measurement' | 'total_increasing';
}

export const METRICS: readonly Metric[] = [
  { key: 'cpu_load', name: 'CPU load (1 min)', template: '{{ value_json.load.avg1 }}', stateClass: 'measurement' },
  { key: 'cpu_busy', name: 'CPU busy', template: '{{ value_json.cpuBusyPercent }}', unit: '%', stateClass: 'measurement' },
  { key: 'temperature', name: 'Temperature', template: '{{ value_json.temperatureC }}', unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' },
  { key: 'memory_used', name: 'Memory used', template: '{{ value_json.memory.usedPercent }}', unit: '%', stateClass: 'measurement' },
  { key: 'disk_used', name: 'Disk used', template: '{{ value_json.disk.usedPercent }}', unit: '%', stateClass: 'measurement' },
  { key: 'uptime', name: 'Uptime', template: '{{ value_json.uptimeS }}', unit: 's', deviceClass: 'duration', stateClass: 'total_increasing' },
  { key: 'network_rx', name: 'Network received', template: '{{ value_json.network.rxBytes }}', unit: 'B', deviceClass: 'data_size', stateClass: 'total_increasing' },
  { key: 'network_tx', name: 'Network sent', template: '{{ value_json.network.txBytes }}', unit: 'B', deviceClass: 'data_size', stateClass: 'total_increasing' },
];

/** Discovery topic and config payload per metric. Node ids are hex/base64url, safe as object ids. */
export function discoveryConfigs(nodeId: string, topics: Topics, board: string): Array<{ topic: string; config: Record<string, unknown> }> {
  const objectId = `btn_${nodeId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)}`;
  return METRICS.map((m) => ({
    topic: `${DISCOVERY_PREFIX}/sensor/${objectId}_${m.key}/config`,
    config: {
      name: m.name,
      unique_id: `${objectId}_${m.key}`,
      state_topic: topics.telemetry(nodeId),
      value_template: m.template,
      ...(m.unit ? { unit_of_measurement: m.unit } : {}),
      ...(m.deviceClass ? { device_class: m.deviceClass } : {}),
      ...(m.stateClass ? { state_class: m.stateClass } : {}),
      availability_topic: topics.status(nodeId),
      availability_template: '{{ value_json.state }}',
      payload_available: 'online',
      payload_not_available: 'offline',
      device: { identifiers: [objectId], name: `BTN node ${nodeId.slice(0, 12)}`, manufacturer: 'btn-node', model: board },
    },
  }));
}
