// The activation gate the agent obeys before every signature (docs/activation.md: a node that
// is not activated, or is revoked, never seals). The provisioning side implements the real gate
// against this interface; keep it exactly so.
export type GateState =
  | { readonly state: 'active'; readonly nodeId: string; readonly registration: Record<string, unknown> | null }
  | { readonly state: 'not-activated' | 'revoked'; readonly nodeId: string; readonly reason: string };

export interface SealGate {
  current(): GateState;
}

/** For a devnet without provisioning: the node counts itself active, with no registration. */
export function alwaysActive(nodeId: string): SealGate {
  const state: GateState = { state: 'active', nodeId, registration: null };
  return { current: () => state };
}

/** A gate that never lets the node seal (tests, and the default before activation exists). */
export function neverActive(nodeId: string, reason = 'this node has not been activated by the root node'): SealGate {
  const state: GateState = { state: 'not-activated', nodeId, reason };
  return { current: () => state };
}
