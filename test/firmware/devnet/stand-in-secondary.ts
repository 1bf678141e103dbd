// Test-only stand-in for a secondary node: a software RSA key that seals candidates through the
// same messages as the real agent (SealMessage on topics.seals(clerk), signature over
// lotteryMessage(blockHash, round), time-paced rounds). No validation, no journal: it exists to
// exercise the primary side. `tamper` lets a test send bad seals.
import { sign, type KeyObject } from 'node:crypto';
import { blockHash } from '../../../firmware/protocol/chain/block.ts';
import { decodeCandidate } from '../../../firmware/protocol/chain/candidate-wire.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { keyFingerprint } from '../../../firmware/protocol/identity.ts';
import type { NetworkParams } from '../../../firmware/protocol/params.ts';
import { encodeSealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { createMqttTransport, type MqttTransport } from '../../../firmware/transport/index.ts';
import type { Topics } from '../../../firmware/protocol/topics.ts';

export interface StandInAgentOptions {
  readonly transport: MqttTransport;
  readonly nodeId: string;
  /** RSASSA-PKCS1-v1_5-SHA256 over the message (a software key or the TPM's sealing key). */
  readonly sign: (message: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  readonly topics: Topics;
  readonly params: NetworkParams;
  /** Change the seal before it is sent (or return a raw payload). */
  readonly tamper?: (seal: SealMessage) => SealMessage | string;
  /** Zero threshold the stand-in aims for (default params.sealZeros). */
  readonly targetZeros?: number;
}

export interface StandInAgent {
  readonly sent: SealMessage[];
  start(): void;
  stop(): void;
}

/** Subscribes to candidates on the given transport and seals each new one once. */
export function standInAgent(o: StandInAgentOptions): StandInAgent {
  const { transport } = o;
  const sent: SealMessage[] = [];
  let current = '';
  let closed = false;
  let unsubscribe: (() => void) | null = null;
  const onCandidate = async (payload: Uint8Array): Promise<void> => {
    const { block } = decodeCandidate(payload, { maxTxs: o.params.maxBlockTxs, maxBlockBytes: o.params.maxBlockBytes });
    const hash = blockHash(block.header);
    const id = toHex(hash);
    if (id === current) return;
    current = id;
    const clerk = keyFingerprint(block.header.clerkPublicKey);
    const arrived = Date.now();
    const target = o.targetZeros ?? o.params.sealZeros;
    for (let round = 0; round < o.params.maxRounds; round++) {
      const at = arrived + round * o.params.spinIntervalMs;
      if (at - Date.now() > 0) await new Promise((r) => setTimeout(r, at - Date.now()));
      if (closed || current !== id || Date.now() >= arrived + o.params.sealDeadlineMs) return;
      const signature = await o.sign(lotteryMessage(hash, round));
      if (scoreTicket(signature, round).zeros < target) continue;
      const seal: SealMessage = {
        nodeId: o.nodeId, height: block.header.height, blockHash: hash, clerk, round, signature, registration: null, expiresAt: arrived + o.params.sealDeadlineMs,
      };
      const out = o.tamper ? o.tamper(seal) : seal;
      if (typeof out !== 'string') sent.push(out);
      await transport.publishSeal(clerk, typeof out === 'string' ? out : encodeSealMessage(out), seal.expiresAt, o.nodeId);
      return;
    }
  };
  return {
    sent,
    start: () => {
      unsubscribe ??= transport.subscribe<Uint8Array>(o.topics.candidates, (m) => onCandidate(m.value), { raw: true, maxBytes: 16 * 1024 * 1024 });
    },
    stop: () => {
      closed = true;
      unsubscribe?.();
    },
  };
}

export interface StandInOptions extends Omit<StandInAgentOptions, 'transport' | 'sign'> {
  readonly url: string;
  /** RSA private key that signs the seals. */
  readonly key: KeyObject;
}

export interface StandIn {
  readonly transport: MqttTransport;
  readonly sent: SealMessage[];
  close(): Promise<void>;
}

/** A stand-in with its own transport and a software key. */
export async function startStandIn(o: StandInOptions): Promise<StandIn> {
  const transport = createMqttTransport({ url: o.url, nodeId: o.nodeId, clientId: `standin-${o.nodeId}`, prefix: o.topics.prefix, status: false });
  const agent = standInAgent({ ...o, transport, sign: (m) => new Uint8Array(sign('sha256', m, o.key)) });
  agent.start();
  transport.start();
  await transport.online();
  return {
    transport,
    sent: agent.sent,
    close: async () => {
      agent.stop();
      await transport.close();
    },
  };
}
