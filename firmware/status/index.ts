// Public API of the status page and metrics server.
export { startStatusServer, type StatusServer, type StatusServerOptions } from './server.ts';
export { renderPage, fieldsOf, escapeHtml, formatUptime } from './page.ts';
export { renderMetrics, escapeLabel, METRICS_CONTENT_TYPE } from './metrics.ts';
export { ACTIVATION_STATES, type StatusSnapshot } from './snapshot.ts';
export { StatusError, type StatusErrorCode } from './errors.ts';
