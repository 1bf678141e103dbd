// Charts of the node's history, drawn as inline SVG by the page itself: no library, no external
// request, nothing but elements and presentation attributes (the page's CSP allows no inline
// style attributes). Colours come from classes in the page's style sheet, so light and dark follow
// the browser. Bars are one <path> per series, so 168 hours stay a few kilobytes.
import { HOUR_MS, type HourBucket } from './history.ts';
import { escapeHtml as esc } from './html.ts';

const W = 320;
const H = 120;
const LEFT = 34;
const RIGHT = 314;
const TOP = 10;
const BOTTOM = 100;

export interface ChartSeries {
  /** null is a gap (no sample that hour). */
  readonly values: readonly (number | null)[];
  readonly label: string;
  /** Class of the series (its colour): s1 or s2. */
  readonly tone: 's1' | 's2';
}

export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly kind: 'bars' | 'line';
  readonly series: readonly ChartSeries[];
  /** Words under the x axis, left and right ("24 h ago", "now"). */
  readonly from: string;
  readonly to: string;
  /** Smallest top of the y axis (a chart of zeros still has a scale). */
  readonly minTop?: number;
}

const fix = (n: number): string => (Math.round(n * 10) / 10).toString();

/** A round number at or above `n` (1, 2, 5 times a power of ten). */
export function niceTop(n: number): number {
  if (!(n > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

export function renderChart(c: ChartSpec): string {
  const all = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const top = niceTop(Math.max(c.minTop ?? 1, ...all));
  const n = Math.max(1, ...c.series.map((s) => s.values.length));
  const step = (RIGHT - LEFT) / n;
  const y = (v: number): number => BOTTOM - ((BOTTOM - TOP) * Math.min(v, top)) / top;
  const paths = c.series.map((s, k) => {
    let d = '';
    if (c.kind === 'bars') {
      // the second series is drawn narrower inside the first (sealed inside tested)
      const w = Math.max(0.6, step * (k === 0 ? 0.8 : 0.45));
      s.values.forEach((v, i) => {
        if (v === null || v <= 0) return;
        const x = LEFT + i * step + (step - w) / 2;
        d += `M${fix(x)} ${fix(y(v))}h${fix(w)}V${BOTTOM}h${fix(-w)}z`;
      });
      return d === '' ? '' : `<path class="${s.tone}" d="${d}"/>`;
    }
    // A point with no neighbour (the first hour of a history) is a short tick: a lone "M x y" draws nothing.
    const tick = Math.max(3, step * 0.6);
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const x = LEFT + (i + 0.5) * step;
      const alone = !pen && (s.values[i + 1] ?? null) === null;
      d += alone ? `M${fix(x - tick / 2)} ${fix(y(v))}h${fix(tick)}` : `${pen ? 'L' : 'M'}${fix(x)} ${fix(y(v))}`;
      pen = true;
    });
    return d === '' ? '' : `<path class="${s.tone} line" d="${d}" fill="none" stroke-width="1.6"/>`;
  }).join('');
  const empty = all.length === 0 ? `<text class="muted" x="${(LEFT + RIGHT) / 2}" y="${(TOP + BOTTOM) / 2}" text-anchor="middle">no data yet</text>` : '';
  const legend = c.series.length > 1
    ? `<p class="legend">${c.series.map((s) => `<span class="key ${s.tone}">■</span> ${esc(s.label)}`).join(' ')}</p>` : '';
  const last = c.series[0]?.values.findLast((v) => v !== null);
  const now = last === undefined || last === null ? '' : ` <span class="now">now ${esc(fix(last))}${esc(c.unit === '' ? '' : ` ${c.unit}`)}</span>`;
  return `<figure class="chart" id="${esc(c.id)}"><figcaption>${esc(c.title)}${now}</figcaption>`
    + `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(c.title)}"><title>${esc(c.title)}</title>`
    + `<path class="grid" d="M${LEFT} ${TOP}H${RIGHT}M${LEFT} ${(TOP + BOTTOM) / 2}H${RIGHT}M${LEFT} ${BOTTOM}H${RIGHT}" stroke-width="0.5"/>`
    + `<text class="muted" x="${LEFT - 4}" y="${TOP + 4}" text-anchor="end">${esc(fix(top))}</text>`
    + `<text class="muted" x="${LEFT - 4}" y="${BOTTOM + 3}" text-anchor="end">0</text>`
    + `<text class="muted" x="${LEFT}" y="${H - 6}">${esc(c.from)}</text><text class="muted" x="${RIGHT}" y="${H - 6}" text-anchor="end">${esc(c.to)}</text>`
    + `${paths}${empty}</svg>${legend}</figure>`;
}

/** `count` hourly slots ending with the hour of `now`, each the bucket of that hour or undefined. */
export function hourSlots(hours: readonly HourBucket[], now: number, count: number): (HourBucket | undefined)[] {
  const end = Math.floor(now / HOUR_MS) * HOUR_MS;
  const byHour = new Map(hours.map((h) => [h.hour, h]));
  return Array.from({ length: count }, (_, i) => byHour.get(end - (count - 1 - i) * HOUR_MS));
}

/** Every chart of the page, from the history. */
export function historyCharts(hours: readonly HourBucket[], now: number): string {
  const day = hourSlots(hours, now, 24);
  const week = hourSlots(hours, now, 7 * 24);
  const d = { from: '24 h ago', to: 'now' };
  const w = { from: '7 days ago', to: 'now' };
  const count = (slots: (HourBucket | undefined)[], k: 'tested' | 'sealed' | 'rounds'): number[] => slots.map((h) => h?.[k] ?? 0);
  const read = (slots: (HourBucket | undefined)[], f: (h: HourBucket) => number | null): (number | null)[] => slots.map((h) => (h === undefined ? null : f(h)));
  const blocks = (slots: (HourBucket | undefined)[]): ChartSeries[] => [
    { values: count(slots, 'tested'), label: 'blocks tested', tone: 's1' }, { values: count(slots, 'sealed'), label: 'seals made', tone: 's2' },
  ];
  const charts: ChartSpec[] = [
    { id: 'chart-blocks-24h', title: 'Blocks tested and seals, per hour (24 h)', unit: '', kind: 'bars', series: blocks(day), ...d },
    { id: 'chart-rounds-24h', title: 'Spin rounds (TPM signatures), per hour', unit: '', kind: 'bars', series: [{ values: count(day, 'rounds'), label: 'rounds', tone: 's1' }], ...d },
    { id: 'chart-sign-24h', title: 'TPM signing time, average (ms)', unit: 'ms', kind: 'line', series: [{ values: read(day, (h) => (h.rounds > 0 ? h.signMs / h.rounds : null)), label: 'ms', tone: 's1' }], ...d, minTop: 10 },
    { id: 'chart-blocks-7d', title: 'Blocks tested and seals, per hour (7 days)', unit: '', kind: 'bars', series: blocks(week), ...w },
    { id: 'chart-temp-7d', title: 'CPU temperature (°C, hourly high)', unit: '°C', kind: 'line', series: [{ values: read(week, (h) => h.tempC), label: '°C', tone: 's1' }], ...w, minTop: 50 },
    { id: 'chart-mem-7d', title: 'Memory used (%, hourly high)', unit: '%', kind: 'line', series: [{ values: read(week, (h) => h.memPct), label: '%', tone: 's1' }], ...w, minTop: 100 },
    { id: 'chart-disk-7d', title: 'Disk used (%)', unit: '%', kind: 'line', series: [{ values: read(week, (h) => h.diskPct), label: '%', tone: 's1' }], ...w, minTop: 100 },
    { id: 'chart-uptime-7d', title: 'Uptime of the node (hours; a drop is a restart)', unit: 'h', kind: 'line', series: [{ values: read(week, (h) => (h.uptimeS === null ? null : h.uptimeS / 3600)), label: 'h', tone: 's1' }], ...w, minTop: 1 },
  ];
  return charts.map(renderChart).join('\n');
}
