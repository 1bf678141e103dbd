// The node asks its root node for the network manifest: at start, then every `everyMs` (the
// revocation poll's interval, five minutes by default), and sooner with backoff while it holds none.
// What comes back is only offered to the NetworkState, which verifies it like a copy from the
// broker; an unreachable root or a refused manifest is logged and tried again, never fatal. A
// manifest no key held signs sends the node along the root's rotation chain (root-chain.ts).
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.ts';
import { RegistrarClient } from '../protocol/registrar-api/client.ts';
import type { NetworkState } from './network-state.ts';

export const DEFAULT_MANIFEST_POLL_MS = 5 * 60_000;

export interface ManifestFetchOptions {
  readonly url: string;
  readonly network: NetworkState;
  readonly logger: Logger;
  readonly everyMs?: number | undefined;
  readonly timeoutMs?: number;
}

/** Starts fetching; returns the function that stops it. */
export function fetchManifestFromRoot(o: ManifestFetchOptions): () => void {
  const client = new RegistrarClient(o.url, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
  const every = o.everyMs ?? DEFAULT_MANIFEST_POLL_MS;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  // Full jitter from 1 s up to a minute (or the poll interval if shorter) while the node holds no terms.
  const backoff = new Backoff({ baseMs: Math.min(1000, every), capMs: Math.min(every, 60_000) });
  const next = (ms: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void once(), ms);
    timer.unref();
  };
  const once = async (): Promise<void> => {
    try {
      const raw = await client.fetchManifest();
      if (raw === null) o.logger.info({ root: o.url }, 'the root has published no network manifest yet');
      else {
        let offered = await o.network.offer(raw, 'root');
        // No key held signs it: the root's rotation chain may lead from a key held to its signer.
        if (offered.outcome === 'refused' && offered.field === 'signature') offered = await o.network.followChain(await client.fetchRootChain(), raw, 'root');
        if (offered.outcome === 'refused') o.logger.warn({ root: o.url, code: offered.code, reason: offered.message }, 'network manifest from the root refused');
      }
    } catch (err) {
      o.logger.warn({ root: o.url, err: (err as Error).message }, 'network manifest not fetched from the root');
    }
    // Without terms the node can do nothing: ask again soon (backoff), else at the poll interval.
    if (o.network.current === null) next(Math.max(backoff.next(), 100));
    else {
      backoff.reset();
      next(every);
    }
  };
  void once();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}
