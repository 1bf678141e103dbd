// Prometheus text exposition (format 0.0.4) without a client library: counters with labels
// and one request-duration histogram. Counts are per instance; device counts come from the
// store at scrape time, so they agree across instances.
import type { DeviceState } from '../store/types.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

const key = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const render = (labels: Labels): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
};

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
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.#values.values()) lines.push(`${this.name}${render(labels)} ${value}`);
    return lines.join('\n');
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
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      BUCKETS.forEach((b, i) => lines.push(`${this.name}_bucket${render({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${render({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${render(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${render(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Metrics {
  readonly requests = new Counter('btn_prov_http_requests_total', 'HTTP requests by route and status.');
  readonly durations = new Histogram('btn_prov_http_request_duration_seconds', 'HTTP request duration by route.');
  readonly batches = new Counter('btn_prov_batches_total', 'Batch uploads by result (accepted: signature verified and stored).');
  readonly batchLines = new Counter('btn_prov_batch_lines_total', 'Batch lines by status (filed, duplicate, rejected).');
  readonly lineRejections = new Counter('btn_prov_batch_line_rejections_total', 'Rejected batch lines by reason code.');
  readonly challenges = new Counter('btn_prov_activation_challenges_total', 'Activation challenges issued.');
  readonly activations = new Counter('btn_prov_activations_total', 'Successful activations.');
  readonly rejections = new Counter('btn_prov_rejections_total', 'Refused requests by error code.');
  readonly revocations = new Counter('btn_prov_revocations_total', 'Nodes revoked through this instance.');

  text(devices: Record<DeviceState, number> | null): string {
    const parts = [this.requests, this.durations, this.batches, this.batchLines, this.lineRejections, this.challenges, this.activations, this.rejections, this.revocations].map((m) => m.text());
    if (devices !== null) {
      const lines = ['# HELP btn_prov_devices Devices in the store by state.', '# TYPE btn_prov_devices gauge'];
      for (const [state, n] of Object.entries(devices)) lines.push(`btn_prov_devices{state="${state}"} ${n}`);
      parts.push(lines.join('\n'));
    }
    return parts.join('\n') + '\n';
  }
}
