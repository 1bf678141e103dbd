// The household's status page in headless Chromium, one state at a time, each on a REAL
// `btn-node run` (a child process on swtpm and aedes, as in the fault tests): waiting for the
// network (a root key but no manifest anywhere), waiting for a TPM that is missing, needs you (its
// state directory on a full tmpfs: the seal journal cannot be written), and working (candidates
// tested and sealed). Each state's headline is read from the dumped DOM and shot at phone and
// desktop size into test/artifacts (status-page-<state>-<w>x<h>.png). Then the charts after a
// real devnet run, served from one node's state directory; every request the page makes goes to
// the status server itself (the network log of the run); a foreign Host header is refused.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realAgentFactory, runDevnet } from '../../../firmware/devnet/index.ts';
import { blockHash, blockToJson } from '../../../firmware/protocol/chain/block.ts';
import { History, readHistoryFile, readStatusFile, startStatusServer } from '../../../firmware/status/index.ts';
import { chromium, pageRequests } from '../../chromium.ts';
import { freePort, getJson, pageFaults, spawnAgent, tmpfsSupport, unescapeHtml, until, type AgentChild } from '../faults/harness.ts';
import { startRig, type Rig } from '../faults/rig.ts';

const ARTIFACTS = new URL('../../artifacts/', import.meta.url).pathname;
const SIZES = [[390, 844], [1280, 900]] as const;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let rig: Rig;
let agent: AgentChild | null = null;
const dirs: string[] = [];

beforeAll(async () => {
  rig = await startRig('page-states');
  await mkdir(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await rig?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Headline { state: string; title: string; detail: string; action: string }

function headlineIn(dom: string): Headline {
  const text = (id: string): string => unescapeHtml(new RegExp(`<p id="${id}">([^<]*)</p>`).exec(dom)?.[1] ?? `(no #${id})`);
  return { state: /<section id="headline" data-state="([^"]+)"/.exec(dom)?.[1] ?? '(none)', title: text('headline-title'), detail: text('headline-detail'), action: text('headline-action') };
}

/** The page's DOM after its first refresh, and one screenshot per size: test/artifacts/status-page-<name>-<w>x<h>.png. */
async function capture(name: string, url: string): Promise<string> {
  const dom = await chromium(['--dump-dom', url]);
  for (const [w, h] of SIZES) {
    const file = join(ARTIFACTS, `status-page-${name}-${w}x${h}.png`);
    await rm(file, { force: true });
    await chromium([`--screenshot=${file}`, `--window-size=${w},${h}`, url]);
    expect((await stat(file)).size, file).toBeGreaterThan(5000);
  }
  return dom;
}

async function stopAgent(): Promise<void> {
  expect(await agent!.stop()).toBe(0);
  agent = null;
}

describe('the headline of each state, on btn-node run (swtpm, aedes), in Chromium', () => {
  it('waiting: a root key but no network manifest from the root or the broker', async () => {
    const { path, page } = await rig.config({
      nodeId: undefined, devnetActive: undefined, primaries: undefined, genesis: undefined, params: undefined, committee: undefined,
      stateDir: join(rig.dir, 'state-waiting'),
      root: { url: `http://127.0.0.1:${await freePort()}`, publicKey: hex(randomBytes(32)), timeoutMs: 1000 },
    });
    agent = spawnAgent({ config: path });
    await until('the manifest fault on the status page', async () => (await pageFaults(page))?.some((f) => f.key === 'network manifest'), 60_000, agent);
    const h = headlineIn(await capture('waiting', `${page}/`));
    expect(h).toEqual({
      state: 'waiting', title: 'Waiting for the network', detail: 'No network manifest yet: it comes from the root node or the broker.',
      action: 'What to do: Nothing to do if the device has network access; it keeps trying.',
    });
    await stopAgent();
  });

  it('waiting for the TPM chip: a TPM device node that does not exist, with what to check', async () => {
    const device = join(rig.dir, 'no-such-tpmrm0');
    const { path, page } = await rig.config({ tcti: `device:${device}`, stateDir: join(rig.dir, 'state-no-tpm') });
    agent = spawnAgent({ config: path });
    const fault = await until('the TPM fault on the status page', async () => (await pageFaults(page))?.find((f) => f.key === `TPM at device:${device}`), 60_000, agent);
    const h = headlineIn(await capture('no-tpm', `${page}/`));
    expect(h).toEqual({
      state: 'waiting', title: 'Waiting for the TPM chip', detail: fault.message,
      action: 'What to do: If this lasts, check that the TPM module sits firmly on its header, then restart the device.',
    });
    expect(h.detail).toMatch(/does not exist \(ENOENT\): no TPM found/);
    await stopAgent();
  });

  it.skipIf(!tmpfsSupport.ok)(`needs you: the memory card is full, the seal journal cannot be written${tmpfsSupport.ok ? '' : ` (SKIPPED: ${tmpfsSupport.reason})`}`, async () => {
    const { path, stateDir, page } = await rig.config();
    agent = spawnAgent({ config: path, tmpfs: { dir: stateDir, bytes: 1024 * 1024, fill: true } });
    const fault = await until('the journal fault on the status page', async () => (await pageFaults(page))?.find((f) => f.key === 'seal journal'), 60_000, agent);
    const h = headlineIn(await capture('needs-you', `${page}/`));
    expect(h.state).toBe('needs-you');
    expect(h.title).toBe('Needs you: the memory card cannot be written');
    expect(h.detail).toBe(fault.message);
    expect(h.detail).toMatch(/disk full.*ENOSPC/);
    expect(h.action).toBe('What to do: Free space on the memory card, or replace it if it has turned read-only. The node resumes by itself.');
    await stopAgent();
  });

  it('working: 3 candidates tested and sealed, counted in the headline; every request of the page goes to the status server', async () => {
    const { path, page } = await rig.config({ stateDir: join(rig.dir, 'state-working') });
    agent = spawnAgent({ config: path });
    const a = agent;
    await until('the broker connection', async () => (await getJson(`${page}/status.json`))?.['broker'].connected, 60_000, a);
    let tip = rig.genesisHash;
    for (let height = 1; height <= 3; height++) {
      const b = rig.block(height, tip);
      await rig.watcher.publish(rig.topics.candidates, JSON.stringify(blockToJson(b)), { qos: 1 });
      await until(`the seal of block ${height}`, () => rig.seals.some((s) => hex(s.blockHash) === hex(blockHash(b.header))), 30_000, a);
      await rig.watcher.publish(rig.topics.final, rig.final(b), { qos: 1 });
      await until(`tip ${height}`, async () => (await getJson(`${page}/status.json`))?.['chain'].height === height, 30_000, a);
      tip = blockHash(b.header);
    }
    expect(rig.seals).toHaveLength(3);
    const h = headlineIn(await capture('working', `${page}/`));
    expect(h).toMatchObject({ state: 'working', title: 'Working: tested 3 blocks today, sealed 3', action: '' });

    // The network log of a whole load with the page's own refresh: the navigation, /status.json and
    // /headline.json, nothing elsewhere (no CDN, font or image), and no connection but to the server.
    const origin = new URL(page).origin;
    const { page: asked, log } = await pageRequests(`${page}/`);
    const paths = asked.map((r) => new URL(r.url).pathname);
    expect(paths).toEqual(expect.arrayContaining(['/', '/status.json', '/headline.json']));
    expect(asked.filter((r) => new URL(r.url).origin !== origin)).toEqual([]);
    expect(log.connects.length).toBeGreaterThan(0);
    expect(log.connects.filter((c) => c !== `127.0.0.1:${new URL(page).port}`)).toEqual([]);

    // DNS rebinding: the same server under a foreign name answers 421 and shows nothing of the node.
    const foreign = await chromium([`--host-resolver-rules=MAP btn-rebind.example 127.0.0.1`, '--dump-dom', `http://btn-rebind.example:${new URL(page).port}/`]);
    expect(foreign).toContain('answers only to its own names');
    expect(foreign).not.toContain('id="headline"');
    await stopAgent();
  });

  it('the network log catches a request that leaves: a page with a CDN image and a web font, served on 127.0.0.1', async () => {
    // The check above can fail: the same reading of the log names both foreign requests here.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><link rel="stylesheet" href="https://fonts.example.com/css"><img src="http://cdn.example.com/x.png"><p>hi</p>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const { page: asked } = await pageRequests(`${origin}/`);
      expect(asked.filter((r) => new URL(r.url).origin !== origin).map((r) => r.url).sort()).toEqual(['http://cdn.example.com/x.png', 'https://fonts.example.com/css']);
    } finally {
      server.close();
    }
  });
});

describe('the charts after a devnet run, served from one node\'s state directory', () => {
  it('every chart of a node that tested blocks has bars or lines, not "no data yet"; the recent blocks are listed', { timeout: 120_000 }, async () => {
    const root = await mkdtemp(join(tmpdir(), 'btn-page-devnet-'));
    dirs.push(root);
    const result = await runDevnet({ nodes: 2, blocks: 3, stateDir: root, agentFactory: realAgentFactory, handleSignals: false });
    expect(result.ok).toBe(true);
    const stateDir = join(root, 'node-1');
    const status = await readStatusFile(stateDir);
    const read = await readHistoryFile(stateDir);
    expect(read.problem).toBeNull();
    expect(read.data!.totals.tested).toBeGreaterThanOrEqual(3);
    const history = new History(Date.now, read.data);
    const server = await startStatusServer({ port: 0, host: '127.0.0.1', status: () => status!, history: () => history });
    try {
      const dom = await capture('devnet-charts', server.url);
      const chart = (id: string): string => new RegExp(`<figure class="chart" id="${id}">.*?</figure>`, 's').exec(dom)?.[0] ?? `(no #${id})`;
      for (const id of ['chart-blocks-24h', 'chart-rounds-24h', 'chart-blocks-7d']) {
        expect(chart(id), id).toMatch(/<path class="s1" d="M[\d. ]+h/); // bars
        expect(chart(id), id).not.toContain('no data yet');
      }
      for (const id of ['chart-sign-24h', 'chart-mem-7d', 'chart-disk-7d', 'chart-uptime-7d']) {
        expect(chart(id), id).toMatch(/<path class="s1 line" d="M[\d. ]+[hL]/); // a line, or a tick for a lone hour
        expect(chart(id), id).not.toContain('no data yet');
      }
      const rows = /<tbody>(.*?)<\/tbody>/s.exec(dom)?.[1] ?? '';
      for (const b of result.blocks) expect(rows).toContain(`<td>#${b.height}</td>`);
    } finally {
      await server.close();
    }
  });
});
