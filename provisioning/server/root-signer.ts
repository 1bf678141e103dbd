// Which of its root keys the registrar signs registrations and revocation lists with. Before a
// rotation, its root key. Once the held network manifest announces the next key and the window
// has opened, the next key (when the registrar was started with it): a node then renews under
// the new key as soon as the window opens, so the fleet has moved before the old key stops
// counting. After the window, the held manifest is the new key's (with or without the window in
// it), and the new key signs even when the registrar still holds the old one. The broker secrets stay derived from the root key the registrar was started with.
import { toHex } from '../../firmware/core/bytes.ts';
import type { NetworkManifest } from '../../firmware/protocol/network-manifest.ts';
import type { RootKeys, RootRotation } from '../../firmware/protocol/root-keys.ts';
import type { Ed25519Key } from '../keys.ts';

export class RootSigner {
  readonly root: Ed25519Key;
  readonly next: Ed25519Key | null;
  readonly #now: () => number;
  #held: RootKeys | null = null;
  #version: number | null = null;

  constructor(root: Ed25519Key, next: Ed25519Key | null, now: () => number) {
    this.root = root;
    this.next = next;
    this.#now = now;
  }

  /** Every key this registrar holds (a stored or published manifest must verify under one, or follow from one). */
  get keys(): Ed25519Key[] {
    return this.next === null ? [this.root] : [this.root, this.next];
  }

  /** The rotation the held manifest announces (null: none). */
  get rotation(): RootRotation | null {
    return this.#held?.rotation ?? null;
  }

  /** The version of the manifest followed (null: none yet). */
  get version(): number | null {
    return this.#version;
  }

  /**
   * Follows the manifest held (at start, after a publish, after a re-read of the store finds a
   * newer one); never an older one than it follows: a re-read that raced a publish is late, not
   * news. Whether it now follows `manifest`.
   */
  follow(manifest: NetworkManifest | null): boolean {
    if (manifest === null || (this.#version !== null && manifest.version < this.#version)) return false;
    this.#held = manifest.rootKeys;
    this.#version = manifest.version;
    return true;
  }

  /**
   * The key to sign with now: the newest key the held manifest makes valid now (the announced next
   * key once its window opened; the new root's key once its own manifest is held), when this
   * registrar holds it; otherwise its root key (problem() says why).
   */
  current(): Ed25519Key {
    const newest = this.#held?.newestAt(this.#now());
    const hex = newest === undefined || newest === null ? null : toHex(newest);
    return this.keys.find((k) => toHex(k.publicKey) === hex) ?? this.root;
  }

  /** What is wrong with the keys given for the rotation held, for the start-up log; null when nothing is. */
  problem(): string | null {
    const r = this.rotation;
    const hexes = this.keys.map((k) => toHex(k.publicKey));
    if (r === null && this.next !== null && this.#held?.spanOf(this.next.publicKey) !== undefined) {
      return `the rotation to root key ${toHex(this.next.publicKey).slice(0, 16)}… is over and it signs; start with --root-key naming it alone`;
    }
    if (r === null) return this.next === null ? null : 'a next root key is given, but no network manifest announces it yet: registrations stay under the root key';
    if (!hexes.includes(r.next) && this.#now() >= r.from) {
      return `the network manifest's rotation window to root key ${r.next.slice(0, 16)}… is open, but this registrar does not hold that key (--next-root-key): renewals stay under the old key until ${new Date(r.until).toISOString()}, then nodes refuse them`;
    }
    return null;
  }
}
