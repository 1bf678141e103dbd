// The status page answers only to its own names (DNS rebinding), and serves the headline, the
// history's charts and the recent blocks over real HTTP.
import { request } from 'node:http';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { History, HOUR_MS, hostCheck, hostOf, startStatusServer, type NodeStatus, type StatusServer } from '../../../firmware/status/index.ts';
import { snapshot, XSS } from './fixtures.ts';

let server: StatusServer;
const now = 1_700_000_000_000;
const history = new History(() => now);
let current: NodeStatus = snapshot({ updatedAt: now });

beforeAll(async () => {
  server = await startStatusServer({ port: 0, host: '127.0.0.1', status: () => current, history: () => history, hostNames: ['btn-a1b2.local'] });
});
afterAll(async () => server.close());

function get(path: string, host: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = host === null ? {} : { host };
    const req = request({ host: '127.0.0.1', port: server.port, path, headers, setHost: host !== null }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Host header', () => {
  it('reads the name out of a Host header', () => {
    expect(hostOf('Example.local.:8080')).toBe('example.local');
    expect(hostOf('[::1]:80')).toBe('::1');
    expect(hostOf('[fe80::1]')).toBe('fe80::1');
    expect(hostOf('a:b:c')).toBeNull();
    expect(hostOf('evil.example:80x')).toBeNull();
    expect(hostOf('x'.repeat(300))).toBeNull();
    expect(hostOf(undefined)).toBeNull();
  });

  it('answers to localhost, its address, its host name, <hostname>.local and names it was given', async () => {
    const own = hostname().toLowerCase();
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, 'LOCALHOST', `${own}:${server.port}`, `${own.split('.')[0]}.local`, 'btn-a1b2.local', `[::1]:${server.port}`]) {
      expect((await get('/status.json', host)).status, host).toBe(200);
    }
  });

  it('refuses a foreign name (DNS rebinding) with 421 and a clear text, on every path', async () => {
    for (const path of ['/', '/status.json', '/history.json', '/metrics']) {
      const r = await get(path, `rebind.attacker.example:${server.port}`);
      expect(r.status).toBe(421);
      expect(r.body).toMatch(/answers only to its own names .* not to "rebind\.attacker\.example:\d+"/);
      expect(r.body).not.toContain('a1b2c3d4e5f6');
    }
    expect((await get('/', 'btn-other.local')).status).toBe(421);
    // HTTP/1.1 without a Host header: node:http refuses it before the page sees it
    expect((await get('/', null)).status).toBe(400);
  });

  it('on the image (host name btn-<id>) answers to http://btn-<id>.local/ and to avahi\'s name after a conflict, nothing else', () => {
    const check = hostCheck({ listenHost: '0.0.0.0', hostname: () => 'btn-0123abcd' });
    for (const host of ['btn-0123abcd.local', 'BTN-0123ABCD.local:80', 'btn-0123abcd.local.', 'btn-0123abcd', 'btn-0123abcd-2.local']) expect(check.allows(host), host).toBe(true);
    for (const host of ['btn-0123abcd.local.attacker.example', 'btn-0123abcd.attacker.example', 'btn-0123abcd-x.local', 'btn-0123abcd-0.local', 'btn-0123abc.local', 'xbtn-0123abcd.local', 'btn-0123abcd-2.localx']) {
      expect(check.allows(host), host).toBe(false);
    }
  });
});

describe('headline, charts and recent blocks', () => {
  it('serves the headline first, the charts as inline SVG and the blocks escaped', async () => {
    history.block({ height: 41, hash: 'aa'.repeat(32), at: now, verdict: 'sealed', code: 'sealed', reason: 'sealed in round 2', rounds: 3, bestZeros: 7, zerosNeeded: 6, sealedBy: { nodeId: 'a1b2c3d4e5f6', round: 2 } });
    history.block({ height: 42, hash: 'bb'.repeat(32), at: now, verdict: 'not-sealed', code: 'deadline', reason: `time ran out ${XSS}`, rounds: 5, bestZeros: 4, zerosNeeded: 6, sealedBy: { nodeId: 'node-b', round: 1 } });
    history.rounds(8, 96);
    history.sealed();
    history.sample({ tempC: 47.5, memPct: 33, diskPct: 12, uptimeS: 3600 });
    const r = await fetch(server.url);
    const html = await r.text();
    expect(html.indexOf('id="headline"')).toBeLessThan(html.indexOf('id="details"'));
    expect(html).toMatch(/<p id="headline-title">Working: tested 2 blocks today, sealed 1<\/p>/);
    for (const id of ['chart-blocks-24h', 'chart-rounds-24h', 'chart-sign-24h', 'chart-blocks-7d', 'chart-temp-7d', 'chart-mem-7d', 'chart-disk-7d', 'chart-uptime-7d']) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('TPM signing time, average (ms) <span class="now">now 12 ms</span>');
    expect(html).toMatch(/<td>#42<\/td><td><span class="v-not-sealed">not sealed<\/span>: time ran out &lt;img/);
    expect(html).toContain('<td>4 of 6 bits</td><td>node-b, round 1</td>');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/ style=/); // the CSP allows no inline style attributes
    const head = await (await fetch(new URL('/headline.json', server.url))).json() as { state: string; title: string };
    expect(head).toMatchObject({ state: 'working', title: 'Working: tested 2 blocks today, sealed 1' });
    const h = await (await fetch(new URL('/history.json', server.url))).json() as { hours: { hour: number }[] };
    expect(h.hours.map((x) => x.hour)).toEqual([Math.floor(now / HOUR_MS) * HOUR_MS]);
  });

  it('says "Needs you" with what to do when the node is revoked', async () => {
    current = snapshot({ updatedAt: now, activation: { state: 'revoked', reason: 'revoked by the root node: stolen' } });
    const html = await (await fetch(server.url)).text();
    expect(html).toContain('<section id="headline" data-state="needs-you"><p id="headline-title">Needs you: the network has revoked this device</p>');
    expect(html).toMatch(/<p id="headline-action">What to do: /);
    current = snapshot({ updatedAt: now });
  });
});
