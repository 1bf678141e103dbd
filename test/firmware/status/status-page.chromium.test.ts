// The status page in headless Chromium (Debian's chromium package) against a REAL running agent:
// swtpm (TPM found, vendor and firmware read from it), an aedes broker, a seal journal file.
// Between page load and the page's own refresh the snapshot changes (seal counters and a hostile
// error message are laid over the agent's live status); the dumped DOM must show the new values,
// written as text, not markup. A screenshot goes to test/artifacts/status-page.png.
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { chromium } from '../../chromium.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type SecondaryAgent } from '../../../firmware/agent/index.ts';
import { testNetwork } from '../../network.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { alwaysActive } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { escapeHtml, fieldsOf, startStatusServer, type StatusServer, type NodeStatus } from '../../../firmware/status/index.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { openTpm, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { XSS } from './fixtures.ts';

const ARTIFACTS = new URL('../../artifacts/', import.meta.url).pathname;
const topics = topicsFor(`btn/status-page-${process.pid}`);

let dir: string;
let swtpm: SwtpmInstance;
let tpm: Tpm;
let broker: BrokerHandle;
let transport: MqttTransport;
let journal: SealJournal;
let agent: SecondaryAgent;
let server: StatusServer;
let calls = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-status-page-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  tpm = await openTpm({ tcti: swtpm.tcti });
  const key = await tpm.ensureSealingKey();
  broker = await startBroker();
  transport = createMqttTransport({ url: broker.url, nodeId: 'node-page', clientId: `page-${process.pid}`, prefix: topics.prefix, protocol: 4 });
  journal = await openSealJournal(join(dir, 'seal-journal'));
  agent = createAgent({
    nodeId: 'node-page', tpm, sealingHandle: key.handle, transport, topics, journal, gate: alwaysActive('node-page'),
    network: await testNetwork({
      clerks: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey], params: DEFAULT_PARAMS,
      genesis: { hash: new Uint8Array(createHash('sha256').update('genesis').digest()), height: 0, timestamp: Date.now() - 5000 },
    }).state(),
    stateDir: join(dir, 'state'), statusIntervalMs: 60_000, sealAuthority: null, signer: new SealSigner(journal, tpm, key.handle),
  });
  await agent.start();
  await transport.online();
  // the page's first render sees the agent as it is; every later fetch sees it after 7 seals and an error
  const status = (): NodeStatus => {
    const live = agent.status();
    if (calls++ === 0) return live;
    return {
      ...live, seals: { ...live.seals, made: 7, published: 6 }, lastErrors: [{ at: Date.UTC(2026, 0, 2, 3, 4, 5), code: 'ERR_TEST', message: `refreshed ${XSS}` }],
      software: { version: '0.3.0', slot: 'B', other: { slot: 'A', version: '0.2.0' }, lastUpdate: { text: `rolled back from 0.3.1: ${XSS}`, at: 1 } },
    };
  };
  server = await startStatusServer({ port: 0, host: '127.0.0.1', status, refreshMs: 1000 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await agent?.stop();
  await journal?.close();
  await transport?.close();
  await broker?.close();
  await tpm?.close();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('status page in headless Chromium', () => {
  it('shows the running agent (TPM from swtpm, broker connected, active) and the refreshed values', async () => {
    const live = agent.status();
    expect(live.tpm).not.toBeNull();
    const dom = await chromium(['--dump-dom', server.url]);
    expect(calls).toBeGreaterThanOrEqual(2); // the page fetched /status.json by itself
    const cell = (id: string): string => new RegExp(`<td id="${id}"[^>]*>([^<]*)</td>`).exec(dom)?.[1] ?? `(no #${id})`;
    expect(dom).toContain('<span id="node">node-page</span>');
    expect(cell('activation')).toBe('active');
    expect(cell('tpm')).toBe(`${live.tpm!.vendor} (${live.tpm!.manufacturer}), firmware ${live.tpm!.firmwareVersion}`.replace(/&/g, '&amp;'));
    expect(cell('broker')).toBe('connected');
    expect(cell('seals-made')).toBe('7'); // 0 at page load: only the refresh script can have put 7 there
    expect(cell('seals-accepted')).toBe('6');
    // The script's words for the software are the server's (fieldsOf), written as text.
    expect(cell('software')).toBe(escapeHtml(fieldsOf({ ...live, software: { version: '0.3.0', slot: 'B', other: { slot: 'A', version: '0.2.0' }, lastUpdate: { text: `rolled back from 0.3.1: ${XSS}`, at: 1 } } })['software']!).replace(/&quot;/g, '"').replace(/&#39;/g, "'"));
    expect(dom).toContain('<li>2026-01-02T03:04:05.000Z ERR_TEST: refreshed &lt;img src=x onerror="document.title=\'pwned\'"&gt;&amp;amp;</li>');
    expect(dom).not.toContain('<img');
    expect(dom).toMatch(/<span id="refreshed">updated /);
    expect(dom).toContain('<title>btn-node node-page</title>');
  });

  it('serves metrics of the running agent: TPM up, broker connected, active', async () => {
    const text = await (await fetch(new URL('/metrics', server.url))).text();
    expect(text).toMatch(/^btn_tpm_up\{node="node-page",vendor="[^"]+",firmware="[^"]+"\} 1$/m);
    expect(text).toContain('btn_broker_connected{node="node-page"} 1');
    expect(text).toContain('btn_activation_state{node="node-page",state="active"} 1');
  });

  it('renders a screenshot into test/artifacts/status-page.png', async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'status-page.png');
    await rm(file, { force: true });
    await chromium([`--screenshot=${file}`, '--window-size=1000,800', server.url]);
    expect((await stat(file)).size).toBeGreaterThan(5000);
  });
});
