// A signed network for tests that run an agent outside a devnet: a root key (fresh, or a
// provisioned root's) and a committee of four (quorum 3), the network's manifest, and a
// NetworkState already holding it, as a node that fetched it from its root at start would.
import type { KeyObject } from 'node:crypto';
import { NetworkKeys, type RootKey } from '../firmware/devnet/network-keys.ts';
import type { Clock } from '../firmware/core/clock.ts';
import { NetworkState, type NetworkSource } from '../firmware/node/network-state.ts';
import type { SignedManifest } from '../firmware/protocol/network-manifest.ts';
import type { NetworkParams } from '../firmware/protocol/params.ts';

export interface TestNetwork {
  readonly keys: NetworkKeys;
  readonly source: NetworkSource;
  manifest(version: number, params?: NetworkParams): SignedManifest;
  /** A NetworkState holding manifest version 1. */
  state(clock?: Pick<Clock, 'now' | 'setTimer'>): Promise<NetworkState>;
}

export interface TestNetworkOptions {
  readonly clerks: readonly KeyObject[];
  readonly params: NetworkParams;
  readonly genesis: { readonly hash: Uint8Array; readonly height: number; readonly timestamp?: number };
  readonly name?: string;
  /** The root key that signs the manifest (a provisioned root's); fresh when omitted. */
  readonly root?: RootKey;
}

export function testNetwork(o: TestNetworkOptions): TestNetwork {
  const keys = new NetworkKeys({ network: o.name ?? 'testnet', members: 4, ...(o.root === undefined ? {} : { root: o.root }) });
  const genesis = { ...o.genesis, timestamp: o.genesis.timestamp ?? 0 };
  const source: NetworkSource = keys.source;
  const manifest = (version: number, params = o.params): SignedManifest => keys.manifest({ version, params, primaries: o.clerks, genesis });
  return {
    keys, source, manifest,
    async state(clock) {
      const s = await NetworkState.open({ source, ...(clock === undefined ? {} : { clock }) });
      const taken = await s.offer(manifest(1), 'test');
      if (taken.outcome !== 'taken') throw new Error(`test manifest not taken: ${JSON.stringify(taken)}`);
      return s;
    },
  };
}
