// Telemetry: a sample every board interval on <prefix>/nodes/<id>/telemetry, plus Home Assistant
// discovery once per connection. Sampling never blocks the event loop (see sample.ts).
import type { Logger } from 'pino';
import type { Topics } from '../transport/topics.ts';
import { discoveryConfigs } from './home-assistant.ts';
import { createSampler, type Sample } from './sample.ts';

export { createSampler, type Sample, type SamplerOptions } from './sample.ts';
export { discoveryConfigs, DISCOVERY_PREFIX, METRICS } from './home-assistant.ts';

export type Publish = (topic: string, payload: Record<string, unknown>, options: { qos?: 0 | 1; retain?: boolean }) => Promise<unknown>;

export interface TelemetryOptions {
  readonly nodeId: string;
  readonly board: string;
  readonly intervalS: number;
  readonly diskPath: string;
  readonly topics: Topics;
  readonly publish: Publish;
  readonly logger?: Logger;
}

export interface Telemetry {
  start(): Promise<void>;
  stop(): void;
  sampleOnce(): Promise<Sample>;
  /** (Re)announce the sensors, e.g. after the broker lost its retained messages. */
  announce(): Promise<void>;
}

export function createTelemetry(o: TelemetryOptions): Telemetry {
  const sample = createSampler({ diskPath: o.diskPath });
  let timer: NodeJS.Timeout | null = null;
  const tick = async (): Promise<Sample> => {
    const s = await sample();
    await o.publish(o.topics.telemetry(o.nodeId), s as unknown as Record<string, unknown>, { qos: 0 });
    return s;
  };
  return {
    sampleOnce: tick,
    async announce() {
      for (const d of discoveryConfigs(o.nodeId, o.topics, o.board)) await o.publish(d.topic, d.config, { qos: 1, retain: true });
    },
    async start() {
      await this.announce();
      await tick();
      timer = setInterval(() => {
        tick().catch((err: unknown) => o.logger?.warn({ err: (err as Error).message }, 'telemetry sample failed'));
      }, o.intervalS * 1000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
