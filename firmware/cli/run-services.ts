// What `btn-node run` offers a household besides sealing: the LAN status page (up from the first
// second, so a missing TPM or an unreachable root shows there too) and telemetry with Home
// Assistant discovery once the broker connection exists.
import type { Logger } from 'pino';
import { startStatusServer, type StatusServer, type StatusSnapshot } from '../status/index.ts';
import { createTelemetry, type Telemetry } from '../telemetry/index.ts';
import type { MqttTransport } from '../transport/index.ts';
import type { RunConfig } from './run-config.ts';

const DEFAULT_TELEMETRY_INTERVAL_S = 60;

export interface HouseholdServices {
  /** Where the status page reads from (the start-up status first, the agent's status later). */
  setStatusSource(source: () => StatusSnapshot): void;
  startTelemetry(nodeId: string, transport: MqttTransport): Promise<void>;
  stop(): Promise<void>;
}

export async function startHouseholdServices(config: RunConfig, initial: () => StatusSnapshot, logger: Logger): Promise<HouseholdServices> {
  let source = initial;
  const board = config.board?.name;
  let server: StatusServer | null = null;
  let telemetry: Telemetry | null = null;
  if (config.status !== null) {
    try {
      server = await startStatusServer({ port: config.status.port, host: config.status.host, logger, status: () => ({ ...source(), ...(board ? { board } : {}) }) });
      logger.info({ url: server.url }, 'status page');
    } catch (err) {
      // A taken port must not stop the node from sealing: say so, carry on without the page.
      logger.error({ err: (err as Error).message, port: config.status.port }, 'status page not started');
    }
  }
  return {
    setStatusSource(next) {
      source = next;
    },
    async startTelemetry(nodeId, transport) {
      telemetry = createTelemetry({
        nodeId, board, stateDir: config.stateDir, logger, topics: transport.topics,
        intervalS: config.board?.telemetryIntervalS ?? DEFAULT_TELEMETRY_INTERVAL_S,
        publish: (topic, payload, options) => transport.publish(topic, payload, options),
      });
      await telemetry.start();
    },
    async stop() {
      await telemetry?.stop().catch(() => undefined);
      await server?.close().catch(() => undefined);
    },
  };
}
