// Prometheus text exposition format 0.0.4, without a client library:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
// One writer for the device's /metrics and the registrar's.

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

/** Label values escape backslash, double quote and line feed (the format's "label_value"). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{a="x",b="y"}`, or nothing without labels. */
export function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** One metric family: HELP and TYPE once, then one line per series (non-finite values as 0). */
export function family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, series: readonly { readonly labels?: Labels; readonly value: number; readonly suffix?: string }[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const s of series) lines.push(`${name}${s.suffix ?? ''}${labelText(s.labels ?? {})} ${Number.isFinite(s.value) ? s.value : 0}`);
  return lines.join('\n');
}
