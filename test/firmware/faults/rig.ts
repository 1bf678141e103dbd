// What every fault test needs around `btn-node run`: a real swtpm, a real broker (aedes), a
// clerk that publishes candidates and collects the seals, a committee that signs final blocks,
// and a config file for the child (terms pinned as an unprovisioned devnet's, or, with a root, a
// manifest signed by the root and retained on the broker).
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
import { NetworkKeys, type RootKey } from '../../../firmware/devnet/network-keys.ts';
import { encodeFinalMessage } from '../../../firmware/protocol/final-message.ts';
import { blockHash } from '../../../firmware/protocol/chain/block.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
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
  /**
   * Writes a run config (stateDir <dir>/state, status page on a free port); `extra` overrides. With
   * `root`, the terms come from a manifest that root signs, published retained first.
   */
  config(extra?: Record<string, unknown>, o?: { readonly root?: RootKey }): Promise<{ path: string; stateDir: string; page: string }>;
  /** The final message for `block` with a quorum of the committee's votes. */
  final(block: Block): string;
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
  // Every candidate seals at round 0.
  const params = { ...DEFAULT_PARAMS, sealZeros: 0, clerkZeros: 1, spinIntervalMs: 10, maxRounds: 4, sealDeadlineMs: 20_000 };
  const genesis = { hash: genesisHash, height: 0, timestamp: Date.now() - 1000 };
  const committee = new NetworkKeys({ network: name, members: 3 });
  return {
    dir, swtpm, broker, watcher, seals, clerkId, genesisHash, topics,
    async config(extra = {}, o = {}) {
      const stateDir = join(dir, 'state');
      await mkdir(stateDir, { recursive: true });
      const port = await freePort();
      const path = join(dir, 'run.json');
      let terms: Record<string, unknown>;
      if (o.root !== undefined) {
        const signer = new NetworkKeys({ network: name, members: committee.members, root: o.root });
        await watcher.publish(topics.manifest, JSON.stringify(signer.manifest({ version: 1, params, primaries: [clerk.publicKey], genesis })), { qos: 1, retain: true });
        terms = {};
      } else {
        const { version: _v, ...pinnedParams } = params;
        terms = {
          primaries: [clerk.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
          genesis: { hash: toHex(genesisHash), height: 0, timestamp: genesis.timestamp }, params: pinnedParams, devnetActive: true,
          committee: { members: committee.members.map((m) => toHex(m.publicKey)), quorum: committee.quorum },
        };
      }
      await writeFile(path, JSON.stringify({
        tcti: swtpm.tcti, broker: broker.url, topicPrefix: prefix, stateDir, nodeId: name, network: name, protocol: 4, logLevel: 'debug',
        status: { port, host: '127.0.0.1' }, ...terms, ...extra,
      }));
      return { path, stateDir, page: `http://127.0.0.1:${port}` };
    },
    final(b) {
      return encodeFinalMessage(committee.final({ height: b.header.height, hash: blockHash(b.header), timestamp: b.header.timestamp, clerk: clerkId, sealedBy: [] }));
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
