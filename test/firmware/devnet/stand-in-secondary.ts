// Test-only stand-in for a secondary node: a software RSA key that seals candidates through the
// same messages as the real agent (SealMessage on topics.seals(clerk), signature over
// lotteryMessage(blockHash, round), time-paced rounds). No validation, no journal: it exists to
// exercise the primary side. `tamper` lets a test send bad seals.
import { sign, type KeyObject } from 'node:crypto';
import { blockHash, parseBlockJson } from '../../../firmware/chain/block.ts';
import { toHex } from '../../../firmware/chain/encoding.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/chain/lottery.ts';
import { keyFingerprint } from '../../../firmware/chain/primaries.ts';
import type { NetworkParams } from '../../../firmware/protocol/params.ts';
import { encodeSealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { createMqttTransport, type MqttTransport } from '../../../firmware/transport/index.ts';
import type { Topics } from '../../../firmware/transport/topics.ts';

export interface StandInOptions {
  readonly url: string;
  readonly nodeId: string;
  /** RSA private key that signs the seals. */
  readonly key: KeyObject;
  readonly topics: Topics;
  readonly params: NetworkParams;
  /** Change the seal before it is sent (or return a raw payload). */
  readonly tamper?: (seal: SealMessage) => SealMessage | string;
  /** Zero threshold the stand-in aims for (default params.sealZeros). */
  readonly targetZeros?: number;
}

export interface StandIn {
  readonly transport: MqttTransport;
  readonly sent: SealMessage[];
  close(): Promise<void>;
}

export async function startStandIn(o: StandInOptions): Promise<StandIn> {
  const transport = createMqttTransport({ url: o.url, nodeId: o.nodeId, clientId: `standin-${o.nodeId}`, prefix: o.topics.prefix, status: false });
  const sent: SealMessage[] = [];
  let current = '';
  let closed = false;
  transport.subscribe<unknown>(o.topics.candidates, async (m) => {
    if (m.bytes === 0) return;
    const block = parseBlockJson(JSON.stringify(m.value));
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
      const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, round), o.key));
      if (scoreTicket(signature, round).zeros < target) continue;
      const seal: SealMessage = {
        nodeId: o.nodeId, height: block.header.height, blockHash: hash, clerk, round, signature, registration: null, expiresAt: arrived + o.params.sealDeadlineMs,
      };
      const out = o.tamper ? o.tamper(seal) : seal;
      if (typeof out !== 'string') sent.push(out);
      await transport.publishSeal(clerk, typeof out === 'string' ? out : encodeSealMessage(out), seal.expiresAt);
      return;
    }
  });
  transport.start();
  await transport.online();
  return {
    transport,
    sent,
    close: async () => {
      closed = true;
      await transport.close();
    },
  };
}
