// Bad input and faults: a root URL that does not answer. `btn-node run` (child
// process, swtpm, aedes) with "root" pointing at a port where first nothing listens, then a
// server that accepts and never answers, then the real root node (the provisioning registrar on
// SQLite, reached through the same port). Each problem is said once at warn (further attempts at
// debug), the status page shows the activation state with the same reason, the node keeps
// retrying with backoff, and it activates and seals once the root node appears.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockHash, blockToJson } from '../../../firmware/protocol/chain/block.ts';
import { startProvisionedRoot, type ProvisionedRoot } from '../../../firmware/devnet/provisioned-root.ts';
import { openTpm } from '../../../tpm/index.ts';
import { freePort, getJson, getText, LEVEL, seen, spawnAgent, unescapeHtml, until, type AgentChild, type LogLine } from './harness.ts';
import { startRig, type Rig } from './rig.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
let rig: Rig;
let root: ProvisionedRoot;
let agent: AgentChild | null = null;
let front: Server | null = null;
const held = new Set<Socket>();

beforeAll(async () => {
  rig = await startRig('root-unreachable');
  root = await startProvisionedRoot({ dir: join(rig.dir, 'root'), trustDir: join(rig.dir, 'ca'), logger: pino({ level: 'silent' }) });
  // Filed with the root before the device starts: only reaching the root stands in the way.
  const tpm = await openTpm({ tcti: rig.swtpm.tcti });
  try {
    await root.enroll(tpm, 'SN-FAULT-1', 'rpi4');
  } finally {
    await tpm.close();
  }
  expect(await root.uploadBatch()).toMatchObject({ filed: 1 });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  for (const s of held) s.destroy();
  await new Promise((r) => (front ? front.close(r) : r(undefined)));
  await root?.close();
  await rig?.close();
});

/** A TCP front on `port`: holds every connection without a byte of answer, until forwarding. */
async function startFront(port: number): Promise<{ forwardTo(target: URL): void }> {
  let target: URL | null = null;
  front = createServer((sock) => {
    sock.on('error', () => undefined);
    if (target === null) {
      held.add(sock);
      sock.on('close', () => held.delete(sock));
      return;
    }
    const up = connect(Number(target.port), target.hostname);
    up.on('error', () => sock.destroy());
    sock.pipe(up).pipe(sock);
  });
  await new Promise<void>((resolve) => front!.listen(port, '127.0.0.1', resolve));
  return {
    forwardTo(url) {
      target = url;
      for (const s of held) s.destroy();
    },
  };
}

const warnings = (a: AgentChild, pattern: RegExp): LogLine[] => a.lines.filter((l) => l.level >= LEVEL.warn && pattern.test(l.msg));
const attempts = (a: AgentChild, pattern: RegExp): number => a.lines.filter((l) => l['code'] === 'ERR_ACTIVATION_UNREACHABLE' && pattern.test(l.msg)).length;

describe('root URL that does not answer, under btn-node run (swtpm, aedes, registrar)', () => {
  it('says each problem once, shows it on the page, retries with backoff, and activates when the root appears', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const rootUrl = `http://127.0.0.1:${port}`;
    const { path: config, page } = await rig.config({
      nodeId: undefined, devnetActive: false,
      root: { url: rootUrl, publicKey: hex(root.rootPublicKey), timeoutMs: 1000 },
    }, { root: root.rootKey });
    agent = spawnAgent({ config });
    const a = agent;
    const reason = async (): Promise<string> => String(seen(await getJson(`${page}/status.json`))?.['activation']?.reason ?? '');

    // 1. Nothing listens: refused at once, said once, retried.
    const refused = new RegExp(`^root node at ${rootUrl.replace(/\./g, '\\.')} is unreachable: ECONNREFUSED \\(connection refused: nothing listens there\\)`);
    await until('the refusal on the status page', async () => refused.test(await reason()), 30_000, a);
    await until('three attempts', () => attempts(a, refused) >= 3, 30_000, a);
    const said = warnings(a, refused);
    expect(said).toHaveLength(1);
    // The page shows the same sentence (only the "retrying in N s" countdown differs).
    const sentence = said[0]!.msg.replace(/; retrying in \d+ s$/, '');
    expect(await reason()).toMatch(new RegExp(`^${sentence.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; retrying in \\d+ s$`));
    expect(unescapeHtml(await getText(`${page}/`))).toContain(sentence);
    expect((await getJson(`${page}/status.json`))?.['activation'].state).toBe('not-activated');
    console.log(`nothing listening, on stderr and the page: ${said[0]!.msg}`);

    // 2. A server that accepts and never answers: the timeout, said once.
    const server = await startFront(port);
    const silent = /did not answer .* within 1000 ms/;
    await until('the timeout on the status page', async () => silent.test(await reason()), 60_000, a);
    expect(warnings(a, silent)).toHaveLength(1);
    expect(warnings(a, silent)[0]!.msg).toContain(rootUrl);
    expect(warnings(a, refused)).toHaveLength(1);
    console.log(`accepting but silent, on stderr and the page: ${warnings(a, silent)[0]!.msg}`);
    expect(a.child.exitCode).toBeNull();

    // 3. The root node appears behind the same URL: the next attempt activates.
    const appeared = Date.now();
    server.forwardTo(new URL(root.url));
    await until('activation', async () => (await getJson(`${page}/status.json`))?.['activation']?.state === 'active', 90_000, a);
    console.log(`root appeared: active ${Date.now() - appeared} ms later (activation backoff 1 s doubling, full jitter)`);
    expect(a.lines.some((l) => l.level === LEVEL.info && l.msg.startsWith(`activated with the root node at ${rootUrl} after `))).toBe(true);
    expect(a.lines.filter((l) => l.level >= LEVEL.warn && l['code'] === 'ERR_ACTIVATION_UNREACHABLE')).toHaveLength(2);

    await until('the broker connection', async () => (await getJson(`${page}/status.json`))?.['broker'].connected, 30_000, a);
    const b = rig.block(1, rig.genesisHash);
    await rig.watcher.publish(rig.topics.candidates, JSON.stringify(blockToJson(b)), { qos: 1 });
    const seal = await until('a seal with the registration', () => rig.seals.find((s) => hex(s.blockHash) === hex(blockHash(b.header))), 30_000, a);
    expect(seal.registration).not.toBeNull();
    expect(await a.stop()).toBe(0);
    agent = null;
  });
});
