// The household's status page: its size as served (the server does not compress it; gzip shown
// for what it would save) and its time to first contentful paint in headless Chromium, against
// the baseline of a one-line HTML page from a bare node:http server measured in the same run.
// The page carries a full history: 7 days of hours (a candidate every 30 s, a seal in 20, a system
// sample a minute) and the last 50 blocks, the largest it gets.
// How the paint is read: the page's CSP allows only its own nonce'd script and forbids frames, so
// no harness page can read its timing; the bench drives one Chromium tab over the DevTools
// protocol (--remote-debugging-pipe, test/chromium.ts) and evaluates the Paint Timing API in the
// page after each load: first-contentful-paint's startTime, ms from the navigation's start.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { History, HOUR_MS, MAX_HOURS, startStatusServer } from '../../firmware/status/index.ts';
import { openDevToolsPage } from '../chromium.ts';
import { snapshot } from '../firmware/status/fixtures.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const MINIMAL = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>btn-node</title></head><body><p>btn-node is working</p></body></html>\n';

/** A week of a busy node, hour by hour, on a clock of its own. */
export function fullWeek(end: number): History {
  const start = end - MAX_HOURS * HOUR_MS;
  let now = start;
  const h = new History(() => now);
  let height = 1;
  for (; now < end; now += 30_000) {
    const sealed = height % 20 === 0;
    const rounds = 1 + (height % 5);
    h.rounds(rounds, rounds * 180);
    h.block({
      height, hash: height.toString(16).padStart(64, '0'), at: now, verdict: sealed ? 'sealed' : 'not-sealed', code: sealed ? 'sealed' : 'better-seal',
      reason: sealed ? `sealed in round ${rounds - 1}` : `another node sealed first; my best ticket had ${3 + (height % 4)} of 6 zero bits`,
      rounds, bestZeros: 3 + (height % 4), zerosNeeded: 6, sealedBy: sealed ? { nodeId: 'a1b2c3d4e5f6', round: rounds - 1 } : { nodeId: 'f6e5d4c3b2a1', round: 1 },
    });
    if (sealed) h.sealed();
    if (height % 2 === 0) h.sample({ tempC: 48 + (height % 70) / 10, memPct: 31 + (height % 50) / 10, diskPct: 12.5, uptimeS: Math.floor((now - start) / 1000) });
    height++;
  }
  return h;
}

const FCP = `new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error('no first-contentful-paint within 10 s')), 10000);
  new PerformanceObserver((list, observer) => {
    const e = list.getEntries().find((x) => x.name === 'first-contentful-paint');
    const n = performance.getEntriesByType('navigation')[0];
    if (e) { observer.disconnect(); resolve({ fcp: e.startTime, response: n.responseEnd - n.requestStart }); }
  }).observe({ type: 'paint', buffered: true });
})`;

export const run: BenchSuite = async (report, { quick }) => {
  const end = Date.now();
  const week = fullWeek(end);
  let history: History | null = week;
  const status = snapshot({ updatedAt: end });
  const server = await startStatusServer({ port: 0, host: '127.0.0.1', status: () => status, history: () => history, refreshMs: 60_000 });
  const bare = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(Buffer.byteLength(MINIMAL)), 'cache-control': 'no-store' });
    res.end(MINIMAL);
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  const tab = await openDevToolsPage();
  try {
    const served = await fetch(server.url);
    const encoding = served.headers.get('content-encoding');
    const page = new Uint8Array(await served.arrayBuffer());
    history = null;
    const fresh = (await (await fetch(server.url)).arrayBuffer()).byteLength;
    history = week;
    const minimal = (await (await fetch(bareUrl)).arrayBuffer()).byteLength;
    report(withBaseline(`status page HTML as served (${encoding ?? 'uncompressed'}), 7 days of history`, page.byteLength, 'bytes', 'one-line HTML page', minimal));
    report({ name: 'status page HTML, gzip -6 (not sent so: what it would save)', value: gzipSync(page, { level: 6 }).byteLength, unit: 'bytes' });
    report({ name: 'status page HTML, a new node (no history yet)', value: fresh, unit: 'bytes' });

    const rounds = quick ? 5 : 20;
    type Timing = { fcp: number; response: number };
    const ours: Timing[] = [];
    const theirs: Timing[] = [];
    // A first load of each warms the browser (fonts, the style engine); then they alternate.
    for (let i = -1; i < rounds; i++) {
      await tab.load(`${server.url}?r=${i}`);
      const a = await tab.evaluate<Timing>(FCP);
      await tab.load(`${bareUrl}?r=${i}`);
      const b = await tab.evaluate<Timing>(FCP);
      if (i >= 0) { ours.push(a); theirs.push(b); }
    }
    const mid = (t: Timing[], k: keyof Timing): number => Number(median(t.map((x) => x[k])).toFixed(1));
    report(withBaseline(`status page first contentful paint, 7 days of history (median of ${rounds})`, mid(ours, 'fcp'), 'ms', 'one-line HTML page', mid(theirs, 'fcp')));
    report(withBaseline('status page request to last byte (the server renders the charts)', mid(ours, 'response'), 'ms', 'one-line HTML page', mid(theirs, 'response')));
  } finally {
    await tab.close();
    await server.close();
    await new Promise((r) => bare.close(r));
  }
};
