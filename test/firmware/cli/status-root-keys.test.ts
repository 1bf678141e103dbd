// `btn-node status` names the root keys the node holds and, during a rotation, their window;
// status.json keeps them through its reader.
import { describe, expect, it } from 'vitest';
import { summarize } from '../../../firmware/cli/status-command.ts';
import { parseNodeStatus, type NodeStatus } from '../../../firmware/status/node-status.ts';

const base: NodeStatus = {
  version: 1, nodeId: 'n'.repeat(64), state: 'stopped', pid: 1, startedAt: null, updatedAt: 0, uptimeMs: 0,
  activation: { state: 'active' }, tpm: null, broker: { connected: true, state: 'connected' },
  chain: { height: 3, tipHash: '', finalizedHeight: 2, paramsVersion: 2 },
  seals: { made: 0, reused: 0, published: 0, notDelivered: 0 },
  spins: { sealed: 0, refused: 0, inactive: 0, 'better-seal': 0, aborted: 0, deadline: 0, 'max-rounds': 0, failed: 0 },
  spinning: 0, rejected: {}, invalidMessages: {}, lastErrors: [],
};

describe('btn-node status: root keys', () => {
  it('shows both keys and the window during a rotation, one key otherwise', () => {
    const rootKeys = [
      { publicKey: 'a'.repeat(64), until: '2027-02-01T00:00:00.000Z' },
      { publicKey: 'b'.repeat(64), from: '2027-01-08T00:00:00.000Z' },
    ];
    const text = summarize(parseNodeStatus(JSON.parse(JSON.stringify({ ...base, rootKeys }))), 0);
    expect(text).toContain(`root keys: ${'a'.repeat(64)} until 2027-02-01T00:00:00.000Z; ${'b'.repeat(64)} from 2027-01-08T00:00:00.000Z\n`);
    expect(summarize({ ...base, rootKeys: [{ publicKey: 'c'.repeat(64) }] }, 0)).toContain(`root key: ${'c'.repeat(64)}\n`);
    expect(summarize(base, 0)).not.toContain('root key');
  });
});
