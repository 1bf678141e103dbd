// Public API of telemetry: /proc and /sys sampler, Home Assistant discovery, the publish loop.
export { createTelemetry, type Telemetry, type TelemetryOptions, type TelemetryPublishOptions, type TelemetryStats, type NodeFigures } from './telemetry.ts';
export { createSampler, type Sample, type Sampler, type SamplerOptions } from './sampler.ts';
export { discoveryConfigs, haObjectId, parseHomeAssistantStatus, MAX_HA_STATUS_BYTES, DISCOVERY_METRICS, NODE_DISCOVERY_METRICS, NOTICE_DISCOVERY_METRICS, type DiscoveryMetric, type DiscoveryInput } from './discovery.ts';
export { TelemetryError, type TelemetryErrorCode } from './errors.ts';
export { readStaticFacts, type StaticFacts } from './static-facts.ts';
