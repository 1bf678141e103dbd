// Crash safety of the whole agent: `btn-node run` in a child process is SIGKILLed at a
// random moment while it spins; restarted on the same journal it returns the same seal for the
// same block and never seals a second block for the same (height, clerk).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { blockHash, blockToJson, type Block } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { openSealJournal } from '../../../firmware/sealing/journal.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { seededRandom } from '../../seed.ts';
import { until } from '../../until.ts';

const CHILD = fileURLToPath(new URL('./run-child.ts', import.meta.url));
const clerks = [0, 1, 2].map(() => generateKeyPairSync('rsa', { modulusLength: 2048 }));
const genesisHash = new Uint8Array(createHash('sha256').update('crash genesis').digest());
const prefix = `btn/crash-${process.pid}`;
const topics = topicsFor(prefix);
// sealZeros 6 at 15 ms a round: spins last long enough (about 1 s) to be killed in the middle.
const params = { sealZeros: 6, clerkZeros: 1, spinIntervalMs: 15, maxRounds: 2000, sealDeadlineMs: 60_000 };

let dir: string;
let swtpm: SwtpmInstance;
let broker: BrokerHandle;
let clerk: MqttTransport;
const seals: SealMessage[] = [];
let child: ChildProcess | null = null;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-agent-crash-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  broker = await startBroker();
  clerk = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `crash-clerk-${process.pid}`, prefix, protocol: 4, status: false });
  for (const c of clerks) clerk.subscribe(topics.seals(keyFingerprint(spkiOf(c.publicKey))), (m) => { seals.push(m.value); }, { schema: sealMessage });
  await clerk.online();
  await writeFile(join(dir, 'run.json'), JSON.stringify({
    tcti: swtpm.tcti, broker: broker.url, topicPrefix: prefix, stateDir: 'node', nodeId: 'crashy',
    primaries: clerks.map((c) => c.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    genesis: { hash: Buffer.from(genesisHash).toString('hex'), height: 0, timestamp: Date.now() - 1000 }, params, devnetActive: true, protocol: 4, logLevel: 'warn',
  }));
}, 60_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await clerk?.close();
  await broker?.close();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function startChild(): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['--import', 'tsx', CHILD, '--config', join(dir, 'run.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await until('the agent to start', async () => {
    const s = await readStatusFile(join(dir, 'node')).catch(() => null);
    return s !== null && s.pid === c.pid && s.state === 'running';
  }, { ms: 30_000, stopIf: () => (c.exitCode !== null ? `agent exited (${c.exitCode}): ${stderr.slice(-2000)}` : null) });
  return c;
}

async function kill(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  });
}

function block(i: number, variant: number): Block {
  const key = clerks[i]!.privateKey;
  const draw = drawUntilQualified(key, genesisHash, params.clerkZeros, 1000)!;
  return createBlock({ clerkKey: key, height: 1, previousHash: genesisHash, timestamp: Date.now() + variant, drawRound: draw.round, drawSignature: draw.signature });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sealsFor = (hash: string): SealMessage[] => seals.filter((s) => hex(s.blockHash) === hash);

const POLL = { ms: 30_000, everyMs: 20 };

describe('agent under SIGKILL (btn-node run in a child process, swtpm, aedes)', () => {
  it('keeps its promise across kills at random moments', { timeout: 300_000 }, async () => {
    const random = seededRandom('agent crash kills');
    child = await startChild();
    for (let i = 0; i < clerks.length; i++) {
      const a = block(i, 0);
      const aHash = hex(blockHash(a.header));
      // Retained: the restarted agent receives the open candidate again, as from a real clerk.
      await clerk.publish(topics.candidates, JSON.stringify(blockToJson(a)), { qos: 1, retain: true });
      // A random moment while it spins (not a wait for an event: the kill point is the test).
      await new Promise((r) => setTimeout(r, Math.floor(random.next() * 1500)));
      await kill(child);
      const before = sealsFor(aHash).length;
      child = await startChild();
      await until(`seal for block ${i} after restart`, () => sealsFor(aHash).length > before, POLL);
      const all = sealsFor(aHash);
      // Every seal ever sent for A is the same seal.
      for (const s of all) {
        expect(s.round).toBe(all[0]!.round);
        expect(hex(s.signature)).toBe(hex(all[0]!.signature));
      }
      // A second block for the same (height, clerk) is never sealed, before or after another kill.
      const b = block(i, 1);
      const bHash = hex(blockHash(b.header));
      await clerk.publish(topics.candidates, JSON.stringify(blockToJson(b)), { qos: 1, retain: true });
      // Negative checks, so fixed waits: time in which a seal of the second block could have been
      // made, before the kill and after the restart (which re-reads the retained candidate).
      await new Promise((r) => setTimeout(r, 400));
      await kill(child);
      child = await startChild();
      await new Promise((r) => setTimeout(r, 600));
      expect(sealsFor(bHash)).toHaveLength(0);
    }
    // SIGTERM: a clean stop, exit code 0, status.json says stopped, the journal lock is released.
    const code = await new Promise<number | null>((resolve) => {
      child!.once('exit', (c) => resolve(c));
      child!.kill('SIGTERM');
    });
    child = null;
    expect(code).toBe(0);
    expect((await readStatusFile(join(dir, 'node')))?.state).toBe('stopped');
    const j = await openSealJournal(join(dir, 'node', 'seal-journal'));
    try {
      const entries = j.export().entries;
      expect(entries).toHaveLength(clerks.length);
      expect(entries.every((e) => e.seal !== null)).toBe(true);
    } finally {
      await j.close();
    }
  });
});
