// Public API of the node's status: its one shape, status.json, the status page and metrics server.
export {
  ACTIVATION_STATES, STATUS_VERSION, parseNodeStatus, statusMessageOf, type ActivationStateName, type NodeStatus, type NodeStatusMessage, type Software, type StatusFault,
} from './node-status.ts';
export { readStatusFile, writeStatusFile, STATUS_FILE, MAX_STATUS_FILE_BYTES } from './status-file.ts';
export { startStatusServer, STATUS_SOCKET_NAME, type StatusServer, type StatusServerOptions } from './server.ts';
export { renderPage, fieldsOf, escapeHtml, formatUptime, softwareText, type PageExtras } from './page.ts';
export {
  householdState, headlineOf, JOURNAL_FAULT_KEY, JOURNAL_ROLLBACK_FAULT_KEY, NETWORK_FAULT_KEY, STATUS_FILE_FAULT_KEY,
  type Headline, type HouseholdInput, type HouseholdState,
} from './headline.ts';
export { History, HOUR_MS, MAX_HOURS, type HistoryData, type HistoryFigures, type HistoryTotals, type HourBucket, type SystemSample } from './history.ts';
export { readHistoryFile, writeHistoryFile, HISTORY_FILE, MAX_HISTORY_FILE_BYTES, type HistoryRead } from './history-file.ts';
export { RecentBlocks, outcomeWords, MAX_RECENT_BLOCKS, type BlockRecord, type BlockVerdict } from './block-log.ts';
export { historyCharts, renderChart, type ChartSpec, type ChartSeries } from './charts.ts';
export { hostCheck, hostOf, type HostCheck } from './host-check.ts';
export { renderMetrics, escapeLabel, METRICS_CONTENT_TYPE } from './metrics.ts';
export { StatusError, type StatusErrorCode } from './errors.ts';
