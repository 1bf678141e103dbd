// What `btn-node run` offers a household besides sealing: the LAN status page (up from the first
// second, so a missing TPM or an unreachable root shows there too), the board's status LED
// (firmware/led: same source as the page), and telemetry with Home Assistant discovery once the
// broker connection exists (sent again on every reconnect and when Home Assistant comes online).
import type { Logger } from 'pino';
import { listenFd } from '../core/listen-fds.ts';
import { PROCESS_USER } from '../agent/status.ts';
import { PATTERN_MEANING, patternFor, startStatusLed, type StatusLed } from '../led/index.ts';
import { startStatusServer, STATUS_SOCKET_NAME, type History, type StatusServer, type NodeStatus } from '../status/index.ts';
import { createTelemetry, type Telemetry } from '../telemetry/index.ts';
import { ClockWatch, contextOf, NoticeBoard, problemsOf, type Notice } from '../status/notices.ts';
import { softwareView } from '../update/index.ts';
import type { MqttTransport, TransportState } from '../transport/index.ts';
import type { RunConfig } from './run-config.ts';

const DEFAULT_TELEMETRY_INTERVAL_S = 60;
/** How often the notice board looks at the status (a problem is announced within this of its due time). */
const NOTICE_CHECK_MS = 30_000;
/**
 * Home Assistant's birth/will payloads are one word; the telemetry checks the word and ignores
 * anything else with a debug line. Larger payloads are dropped (and warned about) by the transport.
 */
const HA_STATUS_MAX_BYTES = 64 * 1024;

export interface HouseholdServices {
  /** Where the status page and the LED read from (the start-up status first, the agent's status later). */
  setStatusSource(source: () => NodeStatus): void;
  /** The node's history for the page's headline, charts and recent blocks. */
  setHistory(history: History): void;
  /** Final blocks the node took (quorum verified): their timestamps are the clock the notices compare with. */
  followFinals(subscribe: (fn: (height: number, timestampMs: number) => void) => () => void): void;
  /** With the node's history, its figures go to Home Assistant too. */
  startTelemetry(nodeId: string, transport: MqttTransport, history?: History): Promise<void>;
  /** Ends the services; with fault, the LED is left blinking fast (a fault no retry fixes). */
  stop(options?: { readonly fault?: boolean }): Promise<void>;
}

export async function startHouseholdServices(config: RunConfig, initial: () => NodeStatus, logger: Logger): Promise<HouseholdServices> {
  let source = initial;
  let history: History | null = null;
  const board = config.board?.name;
  let server: StatusServer | null = null;
  let telemetry: Telemetry | null = null;
  let led: StatusLed | null = null;
  // Problems that last are announced on the page and to Home Assistant, at most once an hour each.
  const clock = new ClockWatch();
  const notices = new NoticeBoard({ afterMs: config.noticeAfterMs });
  const unfollow: (() => void)[] = [];
  const look = (): void => {
    const s = source();
    const now = Date.now();
    for (const n of notices.observe(problemsOf(s, clock), contextOf(s, clock, now), now)) logNotice(logger, n);
  };
  const noticeTimer = setInterval(look, NOTICE_CHECK_MS);
  noticeTimer.unref();
  const recentNotices = (): NonNullable<NodeStatus['notices']> => notices.recent().slice(-5).map((n) => ({ kind: n.kind, text: n.text, at: n.at }));
  if (config.status !== null) {
    try {
      const hasLed = config.board?.statusLed != null;
      const software = softwareView(config.stateDir);
      const snapshot = (): NodeStatus => {
        const s = source();
        const sw = software();
        // The light's legend for the state it shows now: the household reads the board by it.
        return {
          ...s, user: PROCESS_USER, ...(board ? { board } : {}), ...(hasLed ? { statusLight: PATTERN_MEANING[patternFor(s)] } : {}), ...(sw ? { software: sw } : {}),
          notices: recentNotices(),
        };
      };
      // On the image, systemd binds port 80 and passes it (btn-node.socket); elsewhere the agent binds the config's port.
      server = await startStatusServer({ port: config.status.port, host: config.status.host, fd: listenFd(STATUS_SOCKET_NAME), logger, status: snapshot, history: () => history });
      logger.info({ url: server.url }, 'status page');
    } catch (err) {
      // A taken port must not stop the node from sealing: say so, carry on without the page.
      logger.error({ err: (err as Error).message, port: config.status.port }, 'status page not started');
    }
  }
  const statusLed = config.board?.statusLed;
  if (statusLed) {
    // A missing or read-only LED gives one warning inside; the node runs on without it.
    led = await startStatusLed({ led: statusLed, status: () => source(), logger }).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message }, 'status LED not started');
      return null;
    });
  }
  return {
    setStatusSource(next) {
      source = next;
      led?.refresh();
    },
    setHistory(next) {
      history = next;
    },
    followFinals(subscribe) {
      unfollow.push(subscribe((height, timestampMs) => clock.record(height, timestampMs, Date.now())));
    },
    async startTelemetry(nodeId, transport, nodeHistory) {
      const t = createTelemetry({
        ...(nodeHistory === undefined ? {} : { figures: () => nodeHistory.figures() }),
        nodeId, board, stateDir: config.stateDir, logger, topics: transport.topics,
        notice: () => {
          const last = notices.recent().at(-1);
          return { problem: notices.problemNow(), text: last?.text ?? 'none', at: last?.at ?? null, context: last === undefined ? null : { ...last.context } };
        },
        intervalS: config.board?.telemetryIntervalS ?? DEFAULT_TELEMETRY_INTERVAL_S,
        ...(config.homeAssistant ? {} : { discoveryPrefix: false as const }),
        publish: (topic, payload, options) => transport.publish(topic, payload, options),
        onConnect: (fn) => {
          const on = (s: TransportState): void => { if (s === 'online') fn(); };
          transport.on('state', on);
          return () => void transport.off('state', on);
        },
        // raw: HA's birth is the bare word online, not JSON; the telemetry checks it
        subscribe: (topic, handler) => transport.subscribe(topic, (m) => handler(m.value), { qos: 0, maxBytes: HA_STATUS_MAX_BYTES, raw: true }),
      });
      telemetry = t;
      // Not awaited: with the broker away, discovery waits in the transport's queue, not the run.
      t.start().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'telemetry stopped'));
    },
    async stop(options) {
      clearInterval(noticeTimer);
      for (const u of unfollow.splice(0)) u();
      await telemetry?.stop().catch(() => undefined);
      await led?.stop(options).catch(() => undefined);
      await server?.close().catch(() => undefined);
    },
  };
}

/** A notice in the service's log as well (the journal keeps what Home Assistant may have missed). */
function logNotice(logger: Logger, n: Notice): void {
  if (n.kind === 'problem') logger.warn({ notice: n.key, context: n.context }, n.text);
  else logger.info({ notice: n.key }, n.text);
}
