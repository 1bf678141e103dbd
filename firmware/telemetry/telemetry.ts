// Telemetry loop: publishes Home Assistant discovery once (retained), then one sample every
// intervalS to topics.telemetry(nodeId). Samples never overlap; a failed publish is logged and
// the loop goes on (the broker may be away; the transport queues or drops QoS 0 by itself).
import { pino, type Logger } from 'pino';
import type { Topics } from '../transport/topics.ts';
import { discoveryConfigs } from './discovery.ts';
import { TelemetryError } from './errors.ts';
import { createSampler, type Sample } from './sampler.ts';
import { readStaticFacts } from './static-facts.ts';

export interface TelemetryPublishOptions {
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

export interface TelemetryOptions {
  readonly nodeId: string;
  readonly intervalS: number;
  readonly publish: (topic: string, payload: string, opts: TelemetryPublishOptions) => Promise<unknown>;
  readonly topics: Pick<Topics, 'telemetry' | 'status'>;
  readonly logger?: Logger;
  readonly clock?: () => number;
  /** Board name (board-configs/<name>.json), shown as the device model in Home Assistant. */
  readonly board?: string;
  /** Filesystem reported as disk: the node's state directory. */
  readonly stateDir?: string;
  /** Home Assistant discovery prefix; false turns discovery off. */
  readonly discoveryPrefix?: string | false;
  /** Read the hardware model once at start (device tree or DMI, async) for the Home Assistant device card; default true. */
  readonly staticFacts?: boolean;
  readonly procRoot?: string;
  readonly sysRoot?: string;
  readonly cpuWindowMs?: number;
}

export interface Telemetry {
  start(): Promise<void>;
  stop(): Promise<void>;
  sampleOnce(): Promise<Sample>;
}

export function createTelemetry(options: TelemetryOptions): Telemetry {
  if (typeof options.nodeId !== 'string' || options.nodeId.length === 0 || options.nodeId.length > 128) {
    throw new TelemetryError('ERR_TELEMETRY_OPTIONS', 'nodeId must be a string of 1..128 characters');
  }
  if (!Number.isFinite(options.intervalS) || options.intervalS < 1 || options.intervalS > 86_400) {
    throw new TelemetryError('ERR_TELEMETRY_OPTIONS', `intervalS must be 1..86400, got ${String(options.intervalS)}`);
  }
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'telemetry' });
  const sampler = createSampler({
    nodeId: options.nodeId, diskPath: options.stateDir ?? '/', clock: options.clock,
    procRoot: options.procRoot, sysRoot: options.sysRoot, cpuWindowMs: options.cpuWindowMs,
  });
  const topic = options.topics.telemetry(options.nodeId);
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running = false;
  let inFlight: Promise<void> = Promise.resolve();

  const publishSample = async (): Promise<void> => {
    try {
      const s = await sampler.sample();
      await options.publish(topic, JSON.stringify(s), { qos: 0, retain: false });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'telemetry sample not published');
    }
  };

  const schedule = (): void => {
    if (!running) return;
    timer = setTimeout(() => {
      inFlight = publishSample().finally(schedule);
    }, options.intervalS * 1000);
  };

  const publishDiscovery = async (): Promise<void> => {
    if (options.discoveryPrefix === false) return;
    let hardware: string | undefined;
    if (options.staticFacts !== false) {
      hardware = (await readStaticFacts({ procRoot: options.procRoot, sysRoot: options.sysRoot })).hardware ?? undefined;
    }
    const configs = discoveryConfigs({
      nodeId: options.nodeId, stateTopic: topic, availabilityTopic: options.topics.status(options.nodeId),
      board: options.board, hardware, prefix: options.discoveryPrefix,
    });
    for (const c of configs) {
      try {
        await options.publish(c.topic, JSON.stringify(c.config), { qos: 1, retain: true });
      } catch (err) {
        log.warn({ err: (err as Error).message, topic: c.topic }, 'discovery config not published');
      }
    }
  };

  return {
    async start(): Promise<void> {
      if (running) return;
      running = true;
      await publishDiscovery();
      inFlight = publishSample();
      await inFlight;
      schedule();
    },
    async stop(): Promise<void> {
      running = false;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      await inFlight;
    },
    sampleOnce: () => sampler.sample(),
  };
}
