// A realistic status, as the agent writes it, plus what the household services add (board).
import type { NodeStatus } from '../../../firmware/status/index.ts';

export const XSS = '<img src=x onerror="document.title=\'pwned\'">&amp;';

export function snapshot(over: Partial<NodeStatus> = {}): NodeStatus {
  return {
    version: 1, nodeId: 'a1b2c3d4e5f6', state: 'running', pid: 4242, startedAt: 1_700_000_000_000 - 93_784_000, uptimeMs: 93_784_000, updatedAt: 1_700_000_000_000,
    activation: { state: 'active' },
    tpm: { manufacturer: 'IBM', vendor: 'SW   TPM', firmwareVersion: '20191023.0', sealingKey: null },
    broker: { connected: true, state: 'online' },
    chain: { height: 42, tipHash: 'ab'.repeat(32), finalizedHeight: 40, paramsVersion: 1 },
    seals: { made: 12, published: 11, reused: 1, notDelivered: 0 },
    spins: { sealed: 12, refused: 0, inactive: 0, 'better-seal': 3, aborted: 0, deadline: 1, 'max-rounds': 0, failed: 0 },
    spinning: 0,
    rejected: { 'bad-parent': 2, revoked: 1 },
    invalidMessages: {},
    lastErrors: [{ at: 1_700_000_000_000, code: 'ERR_TRANSPORT_OFFLINE', message: `broker away ${XSS}` }],
    board: 'rpi4',
    ...over,
  };
}
