// A node that is killed again and again while its network goes on: `btn-node run` in a child
// process on swtpm, the devnet's PrimaryNode on the same broker re-drawing every height whose seal
// does not come within the deadline (so the same clerk often re-draws a height the node had
// already decided for), and SIGKILL at seeded random moments, restart at once. Shown: no
// (height, clerk) ever gets two published seals for different blocks, and blocks keep becoming
// final; the final-block rate is printed beside a run of the same length without kills.
// BTN_CRASH_KILLS sets the number of kills (default 30 here; the closing figures use 100).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../../firmware/core/bytes.ts';
import { createClerks, genesisTip, PrimaryNode, StaticSealAuthority, type Clerk } from '../../../firmware/devnet/index.ts';
import { DEFAULT_PARAMS, type NetworkParams } from '../../../firmware/protocol/params.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { openTpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { seededRandom } from '../../seed.ts';
import { until } from '../../until.ts';

const CHILD = fileURLToPath(new URL('./run-child.ts', import.meta.url));
const KILLS = Number(process.env['BTN_CRASH_KILLS'] ?? 30);
const NODE = 'crash-redraw';
// A round every 15 ms and 5 zero bits: a seal takes about half a second, a kill often lands in a
// spin. A deadline of 1.5 s: a height whose node was killed is re-drawn soon after.
const PARAMS: NetworkParams = { ...DEFAULT_PARAMS, sealZeros: 5, clerkZeros: 1, spinIntervalMs: 15, maxRounds: 100, sealDeadlineMs: 1500 };

let dir: string;
let swtpm: SwtpmInstance;
let broker: BrokerHandle;
let watcher: MqttTransport;
let clerks: Clerk[];
let child: ChildProcess | null = null;
const seals: SealMessage[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-crash-redraw-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  broker = await startBroker();
  clerks = createClerks(3);
}, 60_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await watcher?.close();
  await broker?.close();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

function startChild(config: string): ChildProcess {
  const c = spawn(process.execPath, ['--import', 'tsx', CHILD, '--config', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  child = c;
  return c;
}

async function kill(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  c.kill('SIGKILL');
  await exited;
}

/** Produces heights one at a time until `signal` aborts; returns how many became final. */
async function produceUntil(primary: PrimaryNode, signal: AbortSignal): Promise<number> {
  let finals = 0;
  while (!signal.aborted) {
    const records = await primary.produce(1, signal).catch((err: { code?: string }) => {
      if (err.code === 'ERR_DEVNET_ABORTED') return [];
      throw err;
    });
    finals += records.filter((r) => r.final).length;
  }
  return finals;
}

describe('SIGKILL loop with a clerk that re-draws', () => {
  it(`${KILLS} kills: no slot sealed twice, blocks keep becoming final`, { timeout: 120_000 + KILLS * 4000 }, async () => {
    const tpm = await openTpm({ tcti: swtpm.tcti });
    const key = await tpm.ensureSealingKey();
    await tpm.close();
    const topics = topicsFor(`btn/crash-redraw-${process.pid}`);
    const genesis = genesisTip(`crash-redraw-${process.pid}`, Date.now() - 1000);
    const primaryT = createMqttTransport({ url: broker.url, nodeId: 'primary', clientId: `crash-redraw-primary-${process.pid}`, prefix: topics.prefix, status: false });
    const primary = new PrimaryNode({
      transport: primaryT, topics, params: PARAMS, clerks, genesis, maxAttempts: 1000, txPerBlock: 1,
      authority: new StaticSealAuthority([[NODE, key.publicKeyPem]]),
    });
    watcher = createMqttTransport({ url: broker.url, nodeId: 'watcher', clientId: `crash-redraw-watch-${process.pid}`, prefix: topics.prefix, protocol: 4, status: false });
    watcher.subscribe(topics.allSeals, (m) => { seals.push(m.value); }, { qos: 1, schema: sealMessage });
    await Promise.all([primaryT.online(), watcher.online()]);
    await primary.start();
    // The node's config pins the primary's terms (an unprovisioned network): its clerks, its committee.
    const { version: _v, ...params } = PARAMS;
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: topics.prefix, stateDir: join(dir, 'node'), nodeId: NODE, network: primary.keys.network,
      primaries: clerks.map((c) => c.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
      genesis: { hash: toHex(genesis.hash), height: genesis.height, timestamp: genesis.timestamp }, params,
      committee: { members: primary.keys.members.map((m) => toHex(m.publicKey)), quorum: primary.keys.quorum },
      devnetActive: true, protocol: 4, logLevel: 'silent',
    }));
    const running = async (): Promise<boolean> => (await readStatusFile(join(dir, 'node')).catch(() => null))?.state === 'running';
    try {
      // Without kills, for a fixed time: the rate to compare with.
      const quiet = startChild(config);
      await until('the node running', running, 60_000);
      const calmMs = 15_000;
      const calm = new AbortController();
      const calmRun = produceUntil(primary, calm.signal);
      await new Promise((r) => setTimeout(r, calmMs));
      calm.abort();
      const calmFinals = await calmRun;
      await kill(quiet);

      // The same, killed at random moments 0.3-2.5 s after each start.
      const random = seededRandom('crash-redraw');
      const storm = new AbortController();
      const t0 = Date.now();
      const stormRun = produceUntil(primary, storm.signal);
      for (let k = 0; k < KILLS; k++) {
        const c = startChild(config);
        await new Promise((r) => setTimeout(r, 300 + Math.floor(random.next() * 2200)));
        await kill(c);
      }
      startChild(config);
      await until('the node running again', running, 60_000);
      await new Promise((r) => setTimeout(r, 3000));
      storm.abort();
      const stormFinals = await stormRun;
      const stormMs = Date.now() - t0;

      const perMinute = (n: number, ms: number): string => ((n * 60_000) / ms).toFixed(1);
      console.log(`without kills: ${calmFinals} final blocks in ${calmMs} ms (${perMinute(calmFinals, calmMs)}/min); `
        + `with ${KILLS} kills: ${stormFinals} in ${stormMs} ms (${perMinute(stormFinals, stormMs)}/min); `
        + `re-draws ${primary.stats().redraws}, seals on the wire ${seals.length}`);

      // Never two published seals of this node for different blocks of one (height, clerk).
      const bySlot = new Map<string, Set<string>>();
      for (const s of seals.filter((x) => x.nodeId === NODE)) {
        const slot = `${s.height}/${s.clerk}`;
        bySlot.set(slot, (bySlot.get(slot) ?? new Set()).add(toHex(s.blockHash)));
      }
      const doubles = [...bySlot].filter(([, hashes]) => hashes.size > 1);
      expect(doubles).toEqual([]);
      expect(calmFinals).toBeGreaterThan(0);
      expect(stormFinals).toBeGreaterThan(0);
      expect(primary.stats().redraws).toBeGreaterThan(0);
    } finally {
      await primary.stop();
      await primaryT.close();
    }
  });
});
