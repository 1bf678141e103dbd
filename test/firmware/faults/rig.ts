// What every fault test needs around `btn-node run`: a real swtpm, a real broker (aedes), a
// clerk that publishes candidates and collects the seals, and a config file for the child.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import type { Block } from '../../../firmware/protocol/chain/block.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport, type Topics } from '../../../firmware/transport/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { freePort } from './harness.ts';

export interface Rig {
  readonly dir: string;
  readonly swtpm: SwtpmInstance;
  readonly broker: BrokerHandle;
  /** The clerk's connection: publishes candidates and finals, collects seals. */
  readonly watcher: MqttTransport;
  readonly seals: SealMessage[];
  readonly clerkId: string;
  readonly genesisHash: Uint8Array;
  readonly topics: Topics;
  /** Writes a run config (stateDir <dir>/state, status page on a free port); `extra` overrides. */
  config(extra?: Record<string, unknown>): Promise<{ path: string; stateDir: string; page: string }>;
  /** A valid candidate of the clerk at `height` on top of `previous`. */
  block(height: number, previous: Uint8Array, variant?: number): Block;
  close(): Promise<void>;
}

export async function startRig(name: string): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), `btn-${name}-`));
  const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clerkId = keyFingerprint(spkiOf(clerk.publicKey));
  const genesisHash = new Uint8Array(createHash('sha256').update(`${name} genesis`).digest());
  const prefix = `btn/${name}-${process.pid}`;
  const topics = topicsFor(prefix);
  const swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  const broker = await startBroker();
  const watcher = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `${name}-clerk-${process.pid}`, prefix, protocol: 4, status: false });
  const seals: SealMessage[] = [];
  watcher.subscribe(topics.seals(clerkId), (m) => { seals.push(m.value); }, { schema: sealMessage });
  await watcher.online();
  return {
    dir, swtpm, broker, watcher, seals, clerkId, genesisHash, topics,
    async config(extra = {}) {
      const stateDir = join(dir, 'state');
      await mkdir(stateDir, { recursive: true });
      const port = await freePort();
      const path = join(dir, 'run.json');
      await writeFile(path, JSON.stringify({
        tcti: swtpm.tcti, broker: broker.url, topicPrefix: prefix, stateDir, nodeId: name, primaries: [clerk.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
        genesis: { hash: Buffer.from(genesisHash).toString('hex'), height: 0, timestamp: Date.now() - 1000 }, devnetActive: true, protocol: 4, logLevel: 'debug',
        // Every candidate seals at round 0.
        params: { sealZeros: 0, clerkZeros: 1, spinIntervalMs: 10, maxRounds: 4, sealDeadlineMs: 20_000 },
        status: { port, host: '127.0.0.1' },
        ...extra,
      }));
      return { path, stateDir, page: `http://127.0.0.1:${port}` };
    },
    block(height, previous, variant = 0) {
      const draw = drawUntilQualified(clerk.privateKey, previous, 1, 1000)!;
      return createBlock({ clerkKey: clerk.privateKey, height, previousHash: previous, timestamp: Date.now() + variant, drawRound: draw.round, drawSignature: draw.signature });
    },
    async close() {
      await watcher.close().catch(() => undefined);
      await broker.close().catch(() => undefined);
      await swtpm.destroy().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
