// The device's inbound ceiling against the network's block caps: a candidate (or, header-first, a
// body) above the ceiling cannot arrive, so the node could never seal it. Said once per manifest.
import { candidateByteCaps } from '../protocol/chain/candidate-wire.ts';
import { chainParams } from '../protocol/params.ts';
import type { NetworkTerms } from '../node/network-state.ts';

/** Why this device cannot take every candidate the terms allow; null when it can. */
export function ceilingProblem(t: Pick<NetworkTerms, 'version' | 'params'>, ceiling: number): { readonly message: string; readonly fields: Record<string, number> } | null {
  const caps = candidateByteCaps(chainParams(t.params).caps);
  if (caps.json <= ceiling && caps.binary <= ceiling) return null;
  return {
    fields: { manifest: t.version, maxBlockBytes: t.params.maxBlockBytes, maxBlockTxs: t.params.maxBlockTxs, binaryBytes: caps.binary, jsonBytes: caps.json, ceiling },
    message: caps.binary <= ceiling
      ? `the network allows candidates of up to ${caps.json} bytes as JSON, above this device's ${ceiling}-byte ceiling: JSON candidates above it will not arrive (binary ones up to ${caps.binary} bytes do)`
      : `the network allows blocks of up to ${caps.binary} bytes, above this device's ${ceiling}-byte ceiling: candidates above it will not arrive, so this node cannot seal them`,
  };
}
