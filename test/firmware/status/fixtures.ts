// A realistic snapshot, shaped like the agent's AgentStatus.
import type { StatusSnapshot } from '../../../firmware/status/index.ts';

export const XSS = '<img src=x onerror="document.title=\'pwned\'">&amp;';

export function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    nodeId: 'a1b2c3d4e5f6', state: 'running', uptimeMs: 93_784_000, updatedAt: 1_700_000_000_000,
    activation: { state: 'active' },
    tpm: { manufacturer: 'IBM', vendor: 'SW   TPM', firmwareVersion: '20191023.0' },
    broker: { connected: true, state: 'online' },
    chain: { height: 42, finalizedHeight: 40 },
    seals: { made: 12, published: 11, reused: 1, notDelivered: 0 },
    rejected: { 'bad-parent': 2, revoked: 1 },
    lastErrors: [{ at: 1_700_000_000_000, code: 'ERR_TRANSPORT_OFFLINE', message: `broker away ${XSS}` }],
    board: 'rpi4',
    ...over,
  };
}
