// A devnet's root key rotation: the manifest in force one version up, announcing the next key
// with the shortest overlap window, signed by the current key (as `btn-provision root rotate`
// does for a real root).
import { toHex } from '../core/bytes.ts';
import { signManifest, type SignedManifest } from '../protocol/network-manifest.ts';
import { MIN_ROOT_OVERLAP_MS } from '../protocol/root-keys.ts';
import type { Ed25519Key } from '../../provisioning/keys.ts';

export function announceRootRotation(current: SignedManifest, root: Ed25519Key, next: Ed25519Key, from: number): SignedManifest {
  const { format: _format, signature: _signature, ...body } = current;
  return signManifest({
    ...body, version: current.version + 1, validFrom: 0,
    rootRotation: { previous: toHex(root.publicKey), next: toHex(next.publicKey), from, until: from + MIN_ROOT_OVERLAP_MS },
  }, root.privateKeyObject);
}
