// Status server over real HTTP: page (escaped, self-contained), JSON, Prometheus metrics, 404/405.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMetrics, startStatusServer, StatusError, type StatusServer, type NodeStatus } from '../../../firmware/status/index.ts';
import { snapshot } from './fixtures.ts';

let server: StatusServer;
let current: NodeStatus = snapshot();
beforeAll(async () => { server = await startStatusServer({ port: 0, host: '127.0.0.1', status: () => current }); });
afterAll(async () => server.close());

describe('status server', () => {
  it('serves a self-contained page with every value and user-derived text escaped', async () => {
    const r = await fetch(server.url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    const html = await r.text();
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/<(link|img|iframe)\b|src=["']?http|href=["']?http/i); // no external assets
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=&quot;document.title=&#39;pwned&#39;&quot;&gt;&amp;amp;');
    expect(html).toMatch(/id="activation" data-ok="yes">active</);
    expect(html).toContain('SW   TPM (IBM), firmware 20191023.0');
    expect(html).toMatch(/id="seals-made">12</);
    expect(html).toMatch(/id="seals-accepted">11</);
    expect(html).toMatch(/id="uptime">1 d 2 h 3 min 4 s</);
  });

  it('escapes a hostile node id and activation reason too', async () => {
    current = snapshot({ nodeId: '</title><script>x()</script>', activation: { state: 'revoked', reason: '"><b>' } });
    const html = await (await fetch(server.url)).text();
    expect(html).not.toContain('<script>x()');
    expect(html).toContain('&lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;');
    expect(html).toMatch(/id="activation" data-ok="no">revoked \(&quot;&gt;&lt;b&gt;\)</);
    current = snapshot();
  });

  it('shows the running version, the other slot and the last update, escaped', async () => {
    expect(await (await fetch(server.url)).text()).toMatch(/<th>Software<\/th><td id="software">-</);
    current = snapshot({ software: { version: '0.3.0', slot: 'B', other: { slot: 'A', version: '0.2.0' }, lastUpdate: { text: 'updated to 0.3.0', at: 1 } } });
    expect(await (await fetch(server.url)).text()).toMatch(/id="software">0\.3\.0 \(slot B\); other slot A: 0\.2\.0; last update: updated to 0\.3\.0</);
    current = snapshot({ software: { version: null, slot: null, other: null, lastUpdate: { text: 'rolled back from 0.3.1: <b>', at: 1 } } });
    expect(await (await fetch(server.url)).text()).toMatch(/id="software">unknown; last update: rolled back from 0\.3\.1: &lt;b&gt;</);
    current = snapshot();
  });

  it('names what the status light shows, or that the board has none', async () => {
    expect(await (await fetch(server.url)).text()).toMatch(/<th>Status light<\/th><td id="status-light">none on this board</);
    current = snapshot({ statusLight: 'heartbeat: active and connected, sealing' });
    expect(await (await fetch(server.url)).text()).toMatch(/id="status-light">heartbeat: active and connected, sealing</);
    current = snapshot();
  });

  it('says what the broker refused: the connection while not connected, messages also while connected', async () => {
    current = snapshot({ broker: { connected: true, state: 'online', user: 'a1b2', publishRefused: 3, publishRefusal: 'Not authorized on btn/v1/candidates' } });
    expect(await (await fetch(server.url)).text()).toMatch(/id="broker"[^>]*>connected as a1b2; the broker refused 3 message\(s\), last: Not authorized on btn\/v1\/candidates</);
    current = snapshot({ broker: { connected: false, state: 'offline', failure: "TLS: the broker's certificate is for another name than the broker URL's [ERR_TLS_CERT_ALTNAME_INVALID]" } });
    expect(await (await fetch(server.url)).text()).toMatch(/id="broker"[^>]*>not connected \(offline\): TLS: the broker&#39;s certificate is for another name/);
    current = snapshot({ broker: { connected: true, state: 'online', user: 'a1b2', publishRefused: 3, publishRefusal: 'Not authorized on btn/v1/candidates' } });
    const metrics = renderMetrics(current);
    expect(metrics).toContain('btn_broker_refused_total{node="a1b2c3d4e5f6",what="publish"} 3');
    expect(metrics).toContain('btn_broker_refused_total{node="a1b2c3d4e5f6",what="connection"} 0');
    current = snapshot();
  });

  it('serves /status.json as the snapshot itself', async () => {
    const r = await fetch(new URL('/status.json?x=1', server.url));
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await r.json()).toEqual(snapshot());
  });

  it('serves Prometheus text metrics: seals, rejections by reason, activation gauge, broker, TPM, uptime', async () => {
    const r = await fetch(new URL('/metrics', server.url));
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await r.text();
    for (const line of [
      '# TYPE btn_seals_made_total counter', 'btn_seals_made_total{node="a1b2c3d4e5f6"} 12', 'btn_seals_accepted_total{node="a1b2c3d4e5f6"} 11',
      'btn_seals_rejected_total{node="a1b2c3d4e5f6",reason="bad-parent"} 2', 'btn_seals_rejected_total{node="a1b2c3d4e5f6",reason="revoked"} 1',
      'btn_activation_state{node="a1b2c3d4e5f6",state="active"} 1', 'btn_activation_state{node="a1b2c3d4e5f6",state="revoked"} 0',
      'btn_broker_connected{node="a1b2c3d4e5f6"} 1', 'btn_tpm_up{node="a1b2c3d4e5f6",vendor="SW   TPM",firmware="20191023.0"} 1',
      'btn_uptime_seconds{node="a1b2c3d4e5f6"} 93784', 'btn_chain_height{node="a1b2c3d4e5f6"} 42',
    ]) expect(text.split('\n')).toContain(line);
    // every sample line is name{labels} number
    for (const l of text.trim().split('\n').filter((x) => !x.startsWith('#'))) expect(l).toMatch(/^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?$/);
    const odd = renderMetrics(snapshot({ tpm: null, broker: { connected: false, state: 'offline' }, rejected: { 'a"b\\c\nd': 1 } }));
    expect(odd).toContain('reason="a\\"b\\\\c\\nd"} 1');
    expect(odd).toContain('btn_tpm_up{node="a1b2c3d4e5f6"} 0');
  });

  it('answers HEAD without a body, refuses other methods, 404s unknown paths, 500s when status throws', async () => {
    const head = await fetch(server.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(server.url, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await fetch(new URL('/etc/passwd', server.url))).status).toBe(404);
    expect((await fetch(new URL('/status.json/', server.url))).status).toBe(404);
    const broken = await startStatusServer({ port: 0, host: '127.0.0.1', status: () => { throw new Error('no agent'); } });
    expect((await fetch(broken.url)).status).toBe(500);
    await broken.close();
    await expect(startStatusServer({ port: 70_000, status: () => snapshot() })).rejects.toThrow(StatusError);
    await expect(startStatusServer({ port: server.port, host: '127.0.0.1', status: () => snapshot() })).rejects.toMatchObject({ code: 'ERR_STATUS_LISTEN' });
  });
});
