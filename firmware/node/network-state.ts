// What a node holds about its network: the newest root-signed manifest it has accepted (params,
// primaries, committee, genesis). A manifest may arrive retained on the broker, from the root node
// over HTTP, or from the state directory at start; whoever delivers it, it is taken only when it
// verifies under the root key and succeeds the one held (network-manifest.ts). It is written
// durably before it is used, so a restart never goes back to an older version. A manifest whose
// validFrom lies ahead is held back until then. An unprovisioned devnet's config may pin the terms
// instead: then nothing that arrives can change them.
//
// The root keys the node holds (its config's, then whatever a held manifest announced) are
// written to root-keys.json before the manifest that brings them: a restart verifies the stored
// manifest again under those keys, so a node that followed a root key rotation keeps following it.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { array, hexText, literal, object, parseJson, readWith } from '../core/json.ts';
import { fromHex } from '../core/bytes.ts';
import type { RootKeys } from '../protocol/root-keys.ts';
import type { KnownPrimaries } from '../protocol/chain/primaries.ts';
import type { ChainTip } from '../protocol/chain/validate.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { MAX_MANIFEST_BYTES, verifyManifest, type NetworkManifest } from '../protocol/network-manifest.ts';
import { walkRootChain } from '../protocol/root-chain.ts';
import type { NetworkParams } from '../protocol/params.ts';
import type { Committee } from '../protocol/quorum.ts';

/** The terms a node works under: from a verified manifest, or pinned by an unprovisioned devnet's config. */
export interface NetworkTerms {
  /** The manifest's version (a pinned network's params version). */
  readonly version: number;
  readonly params: NetworkParams;
  readonly primaries: KnownPrimaries;
  /** Whose votes make a block final; null when a pinned network names none (finals are then refused). */
  readonly committee: Committee | null;
  readonly genesis: ChainTip;
}

export type NetworkSource =
  /** Trust the root key: manifests from anywhere, taken when they verify. */
  | { readonly kind: 'signed'; readonly network: string; readonly rootPublicKey: Uint8Array }
  /** Terms written into the node's own config (an unprovisioned devnet); nothing that arrives changes them. */
  | { readonly kind: 'pinned'; readonly terms: NetworkTerms };

export type ManifestOffer =
  | { readonly outcome: 'taken'; readonly version: number }
  /** The version held already (a retained copy, a second fetch). */
  | { readonly outcome: 'held'; readonly version: number }
  | { readonly outcome: 'pending'; readonly version: number; readonly validFrom: number }
  /** `field` 'signature': no key the node holds signs it (the root's rotation chain may lead there). */
  | { readonly outcome: 'refused'; readonly code: string; readonly message: string; readonly field?: string };

/** The part of the state an agent uses. */
export interface NetworkView {
  readonly current: NetworkTerms | null;
  /** The root keys the held manifest names (for the status); null before one. */
  readonly rootKeys?: RootKeys | null;
  onChange(fn: (terms: NetworkTerms) => void): () => void;
  offer(raw: unknown, from: string): Promise<ManifestOffer>;
}

export const MANIFEST_FILE = 'network-manifest.json';
/** Beside the manifest: every root key the node has held, so the stored manifest verifies again at start. */
export const ROOT_KEYS_FILE = 'root-keys.json';
const ROOT_KEYS_FORMAT = 'btn-root-keys/v1';
const MAX_ROOT_KEYS = 16;
const rootKeysFile = object({ format: literal(ROOT_KEYS_FORMAT), keys: array(hexText({ bytes: 32, lowercase: true }), { max: MAX_ROOT_KEYS }) });

export class NetworkState implements NetworkView {
  readonly #source: NetworkSource;
  readonly #file: string | null;
  readonly #clock: Pick<Clock, 'now' | 'setTimer'>;
  readonly #log: Logger | undefined;
  readonly #listeners = new Set<(terms: NetworkTerms) => void>();
  #current: NetworkTerms | null;
  #manifest: NetworkManifest | null = null;
  /** The keys written to root-keys.json (hex). */
  #storedKeys: readonly string[] = [];
  #pending: { manifest: NetworkManifest; cancel: () => void } | null = null;
  /** Offers are taken one at a time: two deliveries never race the write and the succession check. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(source: NetworkSource, file: string | null, clock: Pick<Clock, 'now' | 'setTimer'>, log: Logger | undefined) {
    this.#source = source;
    this.#file = file;
    this.#clock = clock;
    this.#log = log;
    this.#current = source.kind === 'pinned' ? source.terms : null;
  }

  /**
   * For a signed source, reads the manifest stored at `file` (if any) and verifies it again: a
   * damaged or foreign file is reported and left in place, and the node waits for a manifest from
   * the broker or the root; it is never silently trusted.
   */
  static async open(o: { readonly source: NetworkSource; readonly file?: string; readonly clock?: Pick<Clock, 'now' | 'setTimer'>; readonly logger?: Logger }): Promise<NetworkState> {
    const state = new NetworkState(o.source, o.file ?? null, o.clock ?? systemClock, o.logger);
    if (o.source.kind === 'signed' && o.file !== undefined) {
      const keysPath = join(dirname(o.file), ROOT_KEYS_FILE);
      const [text, keysText] = await Promise.all([readIfThere(o.file), readIfThere(keysPath)]);
      try {
        state.#storedKeys = keysText === null ? [] : readWith(rootKeysFile, parseJson(keysText, 64 * MAX_ROOT_KEYS + 256, 'root keys'), keysPath, (e) => e).keys;
      } catch (err) {
        o.logger?.error({ file: keysPath, err: (err as Error).message }, 'stored root keys refused; only the configured root key is trusted');
      }
      if (text !== null) {
        try {
          const anchors = [o.source.rootPublicKey, ...state.#storedKeys.map((k) => fromHex(k))];
          state.#use(verifyManifest(parseJson(text, MAX_MANIFEST_BYTES, 'stored manifest'), anchors, o.source.network, null, state.#clock.now()));
        } catch (err) {
          o.logger?.error({ file: o.file, err: (err as Error).message }, 'stored network manifest refused; waiting for one from the broker or the root');
        }
      }
    }
    return state;
  }

  get current(): NetworkTerms | null {
    return this.#current;
  }

  /** The root keys the held manifest names, with their windows; null when pinned or none held yet (then the config's key alone). */
  get rootKeys(): RootKeys | null {
    return this.#manifest?.rootKeys ?? null;
  }

  /** The signed manifest held (for serving it on, e.g. the status page); null when pinned or none yet. */
  get manifest(): NetworkManifest | null {
    return this.#manifest;
  }

  onChange(fn: (terms: NetworkTerms) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  offer(raw: unknown, from: string): Promise<ManifestOffer> {
    const next = this.#queue.then(() => this.#offer(raw, from));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.#pending?.cancel();
    this.#pending = null;
    this.#listeners.clear();
  }

  async #offer(raw: unknown, from: string): Promise<ManifestOffer> {
    const source = this.#source;
    if (source.kind === 'pinned') return { outcome: 'refused', code: 'pinned', message: 'this node\'s network terms are pinned by its config' };
    let m: NetworkManifest;
    try {
      m = verifyManifest(raw, source.rootPublicKey, source.network, this.#manifest, this.#clock.now());
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.#log?.warn({ from, err: err.message }, 'network manifest refused');
      return { outcome: 'refused', code: err.code, message: err.message, ...(err.field === undefined ? {} : { field: err.field }) };
    }
    if (this.#manifest !== null && m.version === this.#manifest.version) return { outcome: 'held', version: m.version };
    if (m.validFrom > this.#clock.now()) return this.#holdBack(m, from);
    await this.#store(m);
    this.#log?.info({ from, version: m.version, committee: m.committee.size, quorum: m.committee.quorum, rootKeys: m.rootKeys.describe() }, 'network manifest taken');
    return { outcome: 'taken', version: m.version };
  }

  /**
   * The current manifest `raw` reached through the root's rotation chain (root-chain.ts): walked
   * from the config's key, the stored keys and the held manifest's; the keys it ends with are
   * written to root-keys.json before the manifest, as any manifest's are. Not held back: a
   * manifest not yet in force is answered 'pending' and fetched again later.
   */
  followChain(chain: unknown, raw: unknown, from: string): Promise<ManifestOffer> {
    const next = this.#queue.then(() => this.#followChain(chain, raw, from));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #followChain(chain: unknown, raw: unknown, from: string): Promise<ManifestOffer> {
    const source = this.#source;
    if (source.kind === 'pinned') return { outcome: 'refused', code: 'pinned', message: 'this node\'s network terms are pinned by its config' };
    const now = this.#clock.now();
    let m: NetworkManifest;
    let keys: readonly string[];
    try {
      ({ manifest: m, keys } = walkRootChain(chain, raw, { anchors: [source.rootPublicKey, ...this.#storedKeys.map((k) => fromHex(k))], held: this.#manifest }, source.network, now));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.#log?.warn({ from, err: err.message }, 'root key rotation chain refused');
      return { outcome: 'refused', code: err.code, message: err.message };
    }
    if (m.validFrom > now) return { outcome: 'pending', version: m.version, validFrom: m.validFrom };
    await this.#store(m);
    this.#log?.warn({ from, version: m.version, walked: keys.length - 1, rootKeys: m.rootKeys.describe() }, 'root key rotation chain followed; network manifest taken');
    return { outcome: 'taken', version: m.version };
  }

  #holdBack(m: NetworkManifest, from: string): ManifestOffer {
    if (this.#pending !== null && this.#pending.manifest.version >= m.version) return { outcome: 'pending', version: this.#pending.manifest.version, validFrom: this.#pending.manifest.validFrom };
    this.#pending?.cancel();
    const cancel = this.#clock.setTimer(() => {
      this.#pending = null;
      // Offered again through the queue: the succession check runs against whatever is held then.
      void this.offer(m.signed, `${from} (held until validFrom)`);
    }, m.validFrom - this.#clock.now());
    this.#pending = { manifest: m, cancel };
    this.#log?.info({ from, version: m.version, validFrom: m.validFrom }, 'network manifest held until it takes effect');
    return { outcome: 'pending', version: m.version, validFrom: m.validFrom };
  }

  /** Durable first: once the node acts on a version, a power cut cannot take it back to an older one. */
  async #store(m: NetworkManifest): Promise<void> {
    if (this.#file !== null) {
      // The keys first: a manifest on disk always has its signer among the stored keys.
      const keys = [...new Set([...this.#storedKeys, ...m.rootKeys.spans.map((k) => k.hex)])];
      if (keys.length > this.#storedKeys.length) {
        // The oldest keys go first when the file is full: a rotation every few months fills it in years.
        const kept = keys.slice(-MAX_ROOT_KEYS);
        await writeFileAtomic(join(dirname(this.#file), ROOT_KEYS_FILE), JSON.stringify({ format: ROOT_KEYS_FORMAT, keys: kept }));
        this.#storedKeys = kept;
      }
      await writeFileAtomic(this.#file, JSON.stringify(m.signed));
    }
    this.#use(m);
  }

  #use(m: NetworkManifest): void {
    this.#manifest = m;
    this.#current = m;
    for (const fn of this.#listeners) fn(m);
  }
}

async function readIfThere(path: string): Promise<Buffer | null> {
  return readFile(path).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
}
