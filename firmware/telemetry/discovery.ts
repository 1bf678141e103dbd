// Home Assistant MQTT discovery: one retained config per metric under
// <prefix>/sensor/btn_<nodeId>_<metric>/config, so the node shows up in a household's Home
// Assistant by itself. Availability follows the agent's retained status ({"state":"online",...},
// last will {"state":"offline"}).
export interface DiscoveryMetric {
  readonly key: string;
  readonly name: string;
  /** Jinja template over the telemetry JSON. */
  readonly valueTemplate: string;
  readonly unit?: string;
  readonly deviceClass?: string;
  readonly stateClass?: 'measurement' | 'total_increasing';
  readonly icon?: string;
  /** Home Assistant's entity kind (default sensor). */
  readonly component?: 'sensor' | 'binary_sensor';
  /** Jinja template over the telemetry JSON giving the entity's attributes (as JSON). */
  readonly attributesTemplate?: string;
}

export const DISCOVERY_METRICS: readonly DiscoveryMetric[] = [
  { key: 'cpu_load1', name: 'CPU load (1 min)', valueTemplate: '{{ value_json.cpu.load1 }}', stateClass: 'measurement', icon: 'mdi:cpu-64-bit' },
  { key: 'cpu_busy', name: 'CPU busy', valueTemplate: '{{ value_json.cpu.busyPercent }}', unit: '%', stateClass: 'measurement', icon: 'mdi:cpu-64-bit' },
  { key: 'temperature', name: 'Temperature', valueTemplate: '{{ value_json.temperatureC }}', unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' },
  { key: 'memory_used', name: 'Memory used', valueTemplate: '{{ value_json.memory.usedPercent }}', unit: '%', stateClass: 'measurement', icon: 'mdi:memory' },
  { key: 'disk_used', name: 'Disk used', valueTemplate: '{{ value_json.disk.usedPercent }}', unit: '%', stateClass: 'measurement', icon: 'mdi:harddisk' },
  { key: 'disk_free', name: 'Disk free', valueTemplate: '{{ value_json.disk.freeBytes }}', unit: 'B', deviceClass: 'data_size', stateClass: 'measurement' },
  { key: 'uptime', name: 'Uptime', valueTemplate: '{{ value_json.uptimeS }}', unit: 's', deviceClass: 'duration', stateClass: 'total_increasing' },
  { key: 'net_rx', name: 'Network received', valueTemplate: '{{ value_json.network.rxBytes }}', unit: 'B', deviceClass: 'data_size', stateClass: 'total_increasing' },
  { key: 'net_tx', name: 'Network sent', valueTemplate: '{{ value_json.network.txBytes }}', unit: 'B', deviceClass: 'data_size', stateClass: 'total_increasing' },
];

/** The node's own figures (its history), sent with each sample under `node` when the node has a history. */
export const NODE_DISCOVERY_METRICS: readonly DiscoveryMetric[] = [
  { key: 'blocks_tested', name: 'Blocks tested', valueTemplate: '{{ value_json.node.blocksTested }}', unit: 'blocks', stateClass: 'total_increasing', icon: 'mdi:cube-scan' },
  { key: 'seals_made', name: 'Seals made', valueTemplate: '{{ value_json.node.blocksSealed }}', unit: 'seals', stateClass: 'total_increasing', icon: 'mdi:seal' },
  { key: 'spin_rounds', name: 'Spin rounds', valueTemplate: '{{ value_json.node.spinRounds }}', unit: 'rounds', stateClass: 'total_increasing', icon: 'mdi:dice-multiple' },
  { key: 'tpm_sign_time', name: 'TPM signing time', valueTemplate: '{{ value_json.node.tpmSignMs }}', unit: 'ms', deviceClass: 'duration', stateClass: 'measurement', icon: 'mdi:chip' },
];

/**
 * The household's notices (firmware/status/notices.ts), sent with each sample as `notice`: a
 * problem entity that is on while an announced problem lasts, with its context as attributes,
 * and the last notice's words. A Home Assistant automation on either tells the household.
 */
export const NOTICE_DISCOVERY_METRICS: readonly DiscoveryMetric[] = [
  {
    key: 'problem', name: 'Problem', component: 'binary_sensor', deviceClass: 'problem',
    valueTemplate: "{{ 'ON' if value_json.notice.problem else 'OFF' }}", attributesTemplate: '{{ value_json.notice | tojson }}',
  },
  { key: 'notice', name: 'Last notice', valueTemplate: '{{ value_json.notice.text[:250] }}', icon: 'mdi:message-alert' },
];

export interface DiscoveryInput {
  readonly nodeId: string;
  readonly stateTopic: string;
  readonly availabilityTopic: string;
  readonly board?: string;
  /** Hardware model read from the device tree or DMI, shown as the device's hardware version. */
  readonly hardware?: string;
  readonly prefix?: string;
  /** The samples carry the node's own figures (NODE_DISCOVERY_METRICS). */
  readonly nodeFigures?: boolean;
  /** The samples carry the household's notices (NOTICE_DISCOVERY_METRICS). */
  readonly notices?: boolean;
}

/** HA object ids allow [a-zA-Z0-9_-] only. */
export function haObjectId(nodeId: string): string {
  return nodeId.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
}

export function discoveryConfigs(input: DiscoveryInput): { topic: string; config: Record<string, unknown> }[] {
  const prefix = input.prefix ?? 'homeassistant';
  const id = `btn_${haObjectId(input.nodeId)}`;
  const device: Record<string, unknown> = { identifiers: [id], name: `btn-node ${input.nodeId}`, model: input.board ?? 'unknown', manufacturer: 'btn-node' };
  if (input.hardware !== undefined) device['hw_version'] = input.hardware;
  return [...DISCOVERY_METRICS, ...(input.nodeFigures ? NODE_DISCOVERY_METRICS : []), ...(input.notices ? NOTICE_DISCOVERY_METRICS : [])].map((m) => {
    const config: Record<string, unknown> = {
      name: m.name,
      unique_id: `${id}_${m.key}`,
      object_id: `${id}_${m.key}`,
      state_topic: input.stateTopic,
      value_template: m.valueTemplate,
      availability_topic: input.availabilityTopic,
      availability_template: '{{ value_json.state }}',
      payload_available: 'online',
      payload_not_available: 'offline',
      device,
    };
    if (m.unit !== undefined) config['unit_of_measurement'] = m.unit;
    if (m.deviceClass !== undefined) config['device_class'] = m.deviceClass;
    if (m.stateClass !== undefined) config['state_class'] = m.stateClass;
    if (m.icon !== undefined) config['icon'] = m.icon;
    if (m.attributesTemplate !== undefined) {
      config['json_attributes_topic'] = input.stateTopic;
      config['json_attributes_template'] = m.attributesTemplate;
    }
    return { topic: `${prefix}/${m.component ?? 'sensor'}/${id}_${m.key}/config`, config };
  });
}

/** Home Assistant's birth and last-will payloads are short words; anything longer is not one. */
export const MAX_HA_STATUS_BYTES = 32;

/**
 * Payload of <prefix>/status (HA's birth "online", will "offline"), as bytes or text; null for
 * anything else (too long, not UTF-8, another word).
 */
export function parseHomeAssistantStatus(payload: unknown): 'online' | 'offline' | null {
  let text: string;
  if (payload instanceof Uint8Array) {
    if (payload.length > MAX_HA_STATUS_BYTES) return null;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
    } catch {
      return null;
    }
  } else if (typeof payload === 'string') {
    if (payload.length > MAX_HA_STATUS_BYTES) return null;
    text = payload;
  } else {
    return null;
  }
  const word = text.trim();
  return word === 'online' || word === 'offline' ? word : null;
}
