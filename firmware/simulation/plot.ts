// The simulator's figure for the README: per-block traffic and time to final against N (log-log),
// one line per design, as a standalone SVG file made by the project (no plotting library).
import type { RunSummary } from './summary.ts';

const W = 720;
const PANEL_H = 220;
const LEFT = 70;
const RIGHT = 670;
const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number): string => (v >= 1e9 ? `${+(v / 1e9).toPrecision(3)}G` : v >= 1e6 ? `${+(v / 1e6).toPrecision(3)}M` : v >= 1e3 ? `${+(v / 1e3).toPrecision(3)}k` : `${+v.toPrecision(3)}`);

interface Panel {
  readonly title: string;
  readonly value: (s: RunSummary) => number;
}

const PANELS: readonly Panel[] = [
  { title: 'messages into the broker per block', value: (s) => s.perBlock.messagesIn },
  { title: 'messages out of the broker per block (fan-out)', value: (s) => s.perBlock.messagesOut },
  { title: 'bytes out of the broker per block', value: (s) => s.perBlock.bytesOut },
  { title: 'time to final, median (ms)', value: (s) => s.msToFinal.median },
];

const COLOURS = { full: '#1f6feb', 'header-first': '#d9480f' } as const;

export function plotSweep(runs: readonly RunSummary[]): string {
  const ns = [...new Set(runs.map((r) => r.nodes))].sort((a, b) => a - b);
  const lx = (n: number): number => {
    const lo = Math.log10(ns[0]!);
    const hi = Math.log10(ns[ns.length - 1]!);
    return hi === lo ? (LEFT + RIGHT) / 2 : LEFT + ((Math.log10(n) - lo) / (hi - lo)) * (RIGHT - LEFT);
  };
  const parts: string[] = [];
  PANELS.forEach((panel, k) => {
    const top = 30 + k * (PANEL_H + 30);
    const bottom = top + PANEL_H - 30;
    const values = runs.map(panel.value).filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.min(...values)));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
    const ly = (v: number): number => bottom - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (bottom - top);
    parts.push(`<text x="${LEFT}" y="${top - 8}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    for (let e = lo; e <= hi; e++) {
      parts.push(`<line x1="${LEFT}" x2="${RIGHT}" y1="${ly(10 ** e).toFixed(1)}" y2="${ly(10 ** e).toFixed(1)}" stroke="#ddd"/>`);
      parts.push(`<text x="${LEFT - 6}" y="${(ly(10 ** e) + 4).toFixed(1)}" font-size="11" text-anchor="end">${fmt(10 ** e)}</text>`);
    }
    for (const n of ns) parts.push(`<text x="${lx(n).toFixed(1)}" y="${bottom + 16}" font-size="11" text-anchor="middle">N=${fmt(n)}</text>`);
    for (const design of ['full', 'header-first'] as const) {
      const pts = runs.filter((r) => r.design === design).sort((a, b) => a.nodes - b.nodes);
      if (pts.length === 0) continue;
      const d = pts.map((r, i) => `${i === 0 ? 'M' : 'L'}${lx(r.nodes).toFixed(1)} ${ly(panel.value(r)).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${COLOURS[design]}" stroke-width="2"/>`);
      for (const r of pts) parts.push(`<circle cx="${lx(r.nodes).toFixed(1)}" cy="${ly(panel.value(r)).toFixed(1)}" r="3" fill="${COLOURS[design]}"><title>${esc(`${design}, N=${r.nodes}: ${fmt(panel.value(r))}`)}</title></circle>`);
    }
  });
  const height = 30 + PANELS.length * (PANEL_H + 30);
  const legend = (['full', 'header-first'] as const).map((d, i) => `<rect x="${RIGHT - 230 + i * 120}" y="6" width="12" height="12" fill="${COLOURS[d]}"/><text x="${RIGHT - 214 + i * 120}" y="16" font-size="12">${d}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" font-family="sans-serif">`
    + `<rect width="100%" height="100%" fill="#fff"/>${legend}${parts.join('')}</svg>\n`;
}
