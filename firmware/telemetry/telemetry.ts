// Telemetry loop: publishes Home Assistant discovery (retained), then one sample every intervalS
// to topics.telemetry(nodeId). Samples never overlap; a failed publish is logged and the loop goes
// on (the broker may be away; the transport queues or drops QoS 0 by itself).
// Discovery is published again on every (re)connect (a broker restarted without persistence has
// lost its retained messages) and when Home Assistant announces itself on its birth topic
// (<prefix>/status, payload "online": HA restarted and forgot its entities), at most once per
// discoveryMinGapMs; births are spread over discoveryJitterMs so a fleet does not answer at once.
import { pino, type Logger } from 'pino';
import type { Topics } from '../protocol/topics.ts';
import { discoveryConfigs, parseHomeAssistantStatus } from './discovery.ts';
import { TelemetryError } from './errors.ts';
import { createSampler, type Sample } from './sampler.ts';
import { readStaticFacts } from './static-facts.ts';

/** How long stop() waits for a publish in flight. */
const STOP_WAIT_MS = 1000;

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
  /** Calls fn on every (re)connect to the broker; returns an unsubscribe. Discovery is sent again each time. */
  readonly onConnect?: (fn: () => void) => () => void;
  /**
   * Subscribes to Home Assistant's birth topic; the handler takes the payload as it came (bytes or
   * text; anything else is ignored). Returns an unsubscribe.
   */
  readonly subscribe?: (topic: string, handler: (payload: unknown) => void) => () => void;
  /** Least time between two discovery sends, ms (default 5000). */
  readonly discoveryMinGapMs?: number;
  /** Random delay before answering a Home Assistant birth, ms (default 3000). */
  readonly discoveryJitterMs?: number;
  readonly random?: () => number;
  /** The node's own figures (blocks tested, seals, rounds, TPM signing time), sent with each sample as `node`. */
  readonly figures?: () => NodeFigures;
  /** The household's notice state (a lasting problem now, the last notice), sent with each sample as `notice`. */
  readonly notice?: () => NoticeState;
}

/** What Home Assistant's problem and notice entities read (firmware/status/notices.ts decides it). */
export interface NoticeState {
  readonly problem: boolean;
  readonly text: string;
  readonly at: number | null;
  readonly context: Readonly<Record<string, string>> | null;
}

/** The node's figures as Home Assistant reads them (firmware/status HistoryFigures has this shape). */
export interface NodeFigures {
  readonly blocksTested: number;
  readonly blocksSealed: number;
  readonly spinRounds: number;
  readonly tpmSignMs: number | null;
}

export interface TelemetryStats {
  /** Discovery rounds started (start, reconnects, Home Assistant births). */
  readonly discoverySends: number;
  /** Home Assistant status payloads ignored as invalid. */
  readonly haStatusIgnored: number;
}

export interface Telemetry {
  start(): Promise<void>;
  stop(): Promise<void>;
  sampleOnce(): Promise<Sample>;
  stats(): TelemetryStats;
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
      if (!running) return;
      const figures = options.figures?.();
      const notice = options.notice?.();
      await options.publish(topic, JSON.stringify({ ...s, ...(figures === undefined ? {} : { node: figures }), ...(notice === undefined ? {} : { notice }) }), { qos: 0, retain: false });
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

  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const minGapMs = options.discoveryMinGapMs ?? 5000;
  const jitterMs = options.discoveryJitterMs ?? 3000;
  const discoveryOn = options.discoveryPrefix !== false;
  const haPrefix = options.discoveryPrefix === false ? 'homeassistant' : options.discoveryPrefix ?? 'homeassistant';
  let hardware: Promise<string | undefined> | null = null;
  let lastDiscoveryAt = -Infinity;
  let discoveryRun: Promise<void> | null = null;
  let again = false;
  let pending: ReturnType<typeof setTimeout> | null = null;
  const unsubscribe: (() => void)[] = [];
  const counters = { discoverySends: 0, haStatusIgnored: 0 };

  const publishDiscovery = async (): Promise<void> => {
    // the hardware model does not change: read once (async), reuse on every re-send
    hardware ??= options.staticFacts === false
      ? Promise.resolve(undefined)
      : readStaticFacts({ procRoot: options.procRoot, sysRoot: options.sysRoot }).then((f) => f.hardware ?? undefined, () => undefined);
    const configs = discoveryConfigs({
      nodeId: options.nodeId, stateTopic: topic, availabilityTopic: options.topics.status(options.nodeId),
      board: options.board, hardware: await hardware, prefix: haPrefix, nodeFigures: options.figures !== undefined, notices: options.notice !== undefined,
    });
    for (const c of configs) {
      if (!running) return;
      try {
        await options.publish(c.topic, JSON.stringify(c.config), { qos: 1, retain: true });
      } catch (err) {
        log.warn({ err: (err as Error).message, topic: c.topic }, 'discovery config not published');
      }
    }
  };

  const runDiscovery = (reason: string): void => {
    counters.discoverySends++;
    lastDiscoveryAt = clock();
    log.debug({ reason }, 'publishing Home Assistant discovery');
    discoveryRun = publishDiscovery().finally(() => {
      discoveryRun = null;
      // a reconnect during the run may have lost part of it: once more, after the gap
      if (again) {
        again = false;
        requestDiscovery('reconnect during send');
      }
    });
  };

  const requestDiscovery = (reason: 'start' | 'reconnect' | 'home-assistant-online' | 'reconnect during send'): void => {
    if (!running || !discoveryOn) return;
    if (discoveryRun !== null) {
      if (reason !== 'home-assistant-online') again = true;
      return;
    }
    if (pending !== null) return;
    const gap = Math.max(0, lastDiscoveryAt + minGapMs - clock());
    const delay = gap + (reason === 'home-assistant-online' ? Math.floor(random() * jitterMs) : 0);
    if (delay <= 0) return runDiscovery(reason);
    pending = setTimeout(() => {
      pending = null;
      if (running && discoveryRun === null) runDiscovery(reason);
    }, delay);
  };

  const onHomeAssistantStatus = (payload: unknown): void => {
    const state = parseHomeAssistantStatus(payload);
    if (state === null) {
      counters.haStatusIgnored++;
      // anyone on the broker may publish here: no warning per message, no payload in the log
      log.debug({ topic: `${haPrefix}/status`, type: payload instanceof Uint8Array ? 'bytes' : typeof payload }, 'Home Assistant status ignored: not "online" or "offline"');
      return;
    }
    if (state === 'online') {
      log.info('Home Assistant is online: publishing discovery again');
      requestDiscovery('home-assistant-online');
    }
  };

  return {
    async start(): Promise<void> {
      if (running) return;
      running = true;
      if (discoveryOn && options.onConnect) unsubscribe.push(options.onConnect(() => requestDiscovery('reconnect')));
      if (discoveryOn && options.subscribe) unsubscribe.push(options.subscribe(`${haPrefix}/status`, onHomeAssistantStatus));
      requestDiscovery('start');
      if (discoveryRun !== null) await discoveryRun;
      if (!running) return;
      inFlight = publishSample();
      await inFlight;
      schedule();
    },
    async stop(): Promise<void> {
      running = false;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (pending !== null) clearTimeout(pending);
      pending = null;
      for (const u of unsubscribe.splice(0)) u();
      // A publish waiting in an offline transport's queue settles only when the transport closes,
      // which comes after this: wait a moment, not forever. Nothing new starts after stop.
      let bound: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.all([inFlight, discoveryRun]), new Promise<void>((r) => { bound = setTimeout(r, STOP_WAIT_MS); })]);
      clearTimeout(bound);
    },
    sampleOnce: () => sampler.sample(),
    stats: () => ({ ...counters }),
  };
}
