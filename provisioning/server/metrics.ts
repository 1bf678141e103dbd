// The registrar's /metrics (Prometheus text, firmware/core/prometheus.ts): counters with labels
// and one request-duration histogram. Counts are per instance; device counts come from the
// store at scrape time, so they agree across instances.
import { family } from '../../firmware/core/prometheus.ts';
import type { DeviceState } from '../store/types.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

const key = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const e = this.#values.get(k);
    if (e) e.value += by;
    else this.#values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.#values.get(key(labels))?.value ?? 0;
  }
  text(): string {
    return family(this.name, 'counter', this.help, [...this.#values.values()]);
  }
}

class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string) {}
  observe(labels: Labels, seconds: number): void {
    const k = key(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { labels, counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }
  text(): string {
    const series: { labels: Labels; value: number; suffix: string }[] = [];
    for (const x of this.#series.values()) {
      BUCKETS.forEach((b, i) => series.push({ suffix: '_bucket', labels: { ...x.labels, le: String(b) }, value: x.counts[i]! }));
      series.push({ suffix: '_bucket', labels: { ...x.labels, le: '+Inf' }, value: x.count });
      series.push({ suffix: '_sum', labels: x.labels, value: x.sum });
      series.push({ suffix: '_count', labels: x.labels, value: x.count });
    }
    return family(this.name, 'histogram', this.help, series);
  }
}

export class Metrics {
  readonly requests = new Counter('btn_prov_http_requests_total', 'HTTP requests by route and status.');
  readonly durations = new Histogram('btn_prov_http_request_duration_seconds', 'HTTP request duration by route.');
  readonly batches = new Counter('btn_prov_batches_total', 'Batch uploads by result (accepted: signature verified and stored).');
  readonly batchLines = new Counter('btn_prov_batch_lines_total', 'Batch lines by status (filed, duplicate, rejected).');
  readonly lineRejections = new Counter('btn_prov_batch_line_rejections_total', 'Rejected batch lines by reason code.');
  readonly challenges = new Counter('btn_prov_activation_challenges_total', 'Activation challenges issued.');
  readonly activations = new Counter('btn_prov_activations_total', 'Successful first activations.');
  readonly reactivations = new Counter('btn_prov_reactivations_total', 'Successful re-activations of active nodes (lost state, renewal): each renews the certificate and rotates the broker secret.');
  readonly rejections = new Counter('btn_prov_rejections_total', 'Refused requests by error code.');
  readonly revocations = new Counter('btn_prov_revocations_total', 'Nodes revoked through this instance.');

  text(devices: Record<DeviceState, number> | null): string {
    const parts = [this.requests, this.durations, this.batches, this.batchLines, this.lineRejections, this.challenges, this.activations, this.reactivations, this.rejections, this.revocations].map((m) => m.text());
    if (devices !== null) {
      parts.push(family('btn_prov_devices', 'gauge', 'Devices in the store by state.', Object.entries(devices).map(([state, value]) => ({ labels: { state }, value }))));
    }
    return parts.join('\n') + '\n';
  }
}
