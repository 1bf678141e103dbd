// Public API of the node's status: its one shape, status.json, the status page and metrics server.
export {
  ACTIVATION_STATES, STATUS_VERSION, parseNodeStatus, statusMessageOf, type ActivationStateName, type NodeStatus, type NodeStatusMessage, type StatusFault,
} from './node-status.ts';
export { readStatusFile, writeStatusFile, STATUS_FILE, MAX_STATUS_FILE_BYTES } from './status-file.ts';
export { startStatusServer, type StatusServer, type StatusServerOptions } from './server.ts';
export { renderPage, fieldsOf, escapeHtml, formatUptime } from './page.ts';
export { renderMetrics, escapeLabel, METRICS_CONTENT_TYPE } from './metrics.ts';
export { StatusError, type StatusErrorCode } from './errors.ts';
