// The network manifest the root node serves (GET /v1/network/manifest) and takes from its
// operator (PUT, operator token). A manifest is stored only once it verifies under this
// registrar's root key and may follow the stored one by the protocol's own succession rules
// (verifyManifest: same network and genesis, a higher version by at most MAX_VERSION_STEP), so
// the registrar never serves what a node would refuse. A manifest that announces the root's next
// key (root-keys.ts) is taken by the same chain rule as a node applies; the registrar then signs
// with the next key once the window opens (root-signer.ts), and so do the other instances on the
// same store once they read it again (manifest-follower.ts). Every manifest that announces a
// rotation, signed by the key it retires, is also kept for good and served as the rotation chain
// (GET /v1/network/manifest/rotations, root-chain.ts), so a node given an old key can follow.
import { ProtocolError } from '../../firmware/protocol/errors.ts';
import { manifestMessage, verifyManifest, type NetworkManifest } from '../../firmware/protocol/network-manifest.ts';
import type { ManifestPublishResponse } from '../../firmware/protocol/registrar-api/index.ts';
import { ProvisioningError } from '../errors.ts';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import type { RootSigner } from './root-signer.ts';
import { MAX_ROOT_CHAIN_BYTES, MAX_ROOT_CHAIN_LINKS, ROOT_CHAIN_FORMAT } from '../../firmware/protocol/root-chain.ts';
import type { ProvisioningStore, StoredManifest } from '../store/types.ts';

export interface ManifestDeps {
  readonly store: ProvisioningStore;
  readonly signer: RootSigner;
  readonly now: () => number;
}

export interface HeldManifest {
  readonly stored: StoredManifest;
  readonly terms: NetworkManifest;
}

/**
 * The stored manifest, verified again under the registrar's keys (verifyStored): a store
 * published under another root key (a misconfigured key file) is the service's fault, not the
 * caller's.
 */
export async function heldManifest(deps: ManifestDeps): Promise<HeldManifest | null> {
  const stored = await deps.store.networkManifest();
  return stored === null ? null : verifyStored(deps, stored);
}

/**
 * `stored` verified under the registrar's keys, or the key that announced one of them (after a
 * rotation the registrar may hold only the new key while the store still holds the
 * announcement); ERR_PROV_STORE when it does not verify.
 */
export function verifyStored(deps: Pick<ManifestDeps, 'signer' | 'now'>, stored: StoredManifest): HeldManifest {
  try {
    const raw = JSON.parse(stored.manifest) as { rootRotation?: { previous?: unknown; next?: unknown } };
    const anchors = deps.signer.keys.map((k) => k.publicKey);
    const r = raw.rootRotation;
    if (typeof r?.previous === 'string' && typeof r.next === 'string' && anchors.some((k) => toHex(k) === r.next)) anchors.push(fromHex(r.previous));
    return { stored, terms: verifyManifest(raw, anchors, stored.network, null, deps.now()) };
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_STORE', `the stored network manifest (version ${stored.version}) does not verify under this registrar's root key`, undefined, { cause: err });
  }
}

/** Verifies `raw` (a parsed JSON body) against the held manifest and stores it above it. */
export async function publishManifest(deps: ManifestDeps, raw: unknown): Promise<ManifestPublishResponse> {
  const held = await heldManifest(deps);
  let network: string;
  try {
    // The first manifest names the network; every later one must stay on it.
    network = held?.stored.network ?? manifestMessage.read(raw).network;
  } catch (err) {
    throw manifestRefusal(err);
  }
  let terms: NetworkManifest;
  try {
    terms = verifyManifest(raw, deps.signer.keys.map((k) => k.publicKey), network, held?.terms ?? null, deps.now());
  } catch (err) {
    throw manifestRefusal(err);
  }
  // verifyManifest takes the held version again only with the same signature: the same manifest.
  if (held !== null && terms.version === held.terms.version) return { network, version: terms.version, outcome: 'unchanged' };
  const outcome = await deps.store.publishManifest({ network, version: terms.version, manifest: JSON.stringify(terms.signed), publishedAt: deps.now() });
  if (outcome === 'stale') {
    // Another instance published a version at or above this one since it was read.
    throw new ProvisioningError('ERR_PROV_MANIFEST_SUCCESSION', `a manifest of version ${terms.version} or higher was published meanwhile`, 'version');
  }
  // After the publish: an announcement is kept only once it is the network's. A crash in between
  // is mended when an instance next follows the stored manifest (manifest-follower.ts).
  await keepRotation(deps, terms);
  deps.signer.follow(terms);
  return { network, version: terms.version, outcome: 'published' };
}

/** Keeps `terms` as a link of the rotation chain when it announces a rotation under the key it retires. */
export async function keepRotation(deps: Pick<ManifestDeps, 'store' | 'now'>, terms: NetworkManifest): Promise<void> {
  const r = terms.rootKeys.rotation;
  if (r === null || toHex(terms.signer) !== r.previous) return;
  await deps.store.recordRotation({ network: terms.signed.network, version: terms.version, previousKey: r.previous, nextKey: r.next, manifest: JSON.stringify(terms.signed), recordedAt: deps.now() });
}

/**
 * The rotation chain's JSON text for the held manifest's network: the newest MAX_ROOT_CHAIN_LINKS
 * announcements, oldest first, the oldest dropped until the text fits MAX_ROOT_CHAIN_BYTES (a
 * node whose key is older learns that the chain does not reach back to it). Null before any
 * manifest is published.
 */
export async function rotationChainText(store: ProvisioningStore): Promise<string | null> {
  const held = await store.networkManifest();
  if (held === null) return null;
  const links = (await store.rootRotations(held.network, MAX_ROOT_CHAIN_LINKS)).map((r) => r.manifest);
  const head = `{"format":${JSON.stringify(ROOT_CHAIN_FORMAT)},"network":${JSON.stringify(held.network)},"manifests":[`;
  let bytes = Buffer.byteLength(head) + 2 + links.reduce((n, m) => n + Buffer.byteLength(m) + 1, 0);
  while (links.length > 0 && bytes > MAX_ROOT_CHAIN_BYTES) bytes -= Buffer.byteLength(links.shift()!) + 1;
  return `${head}${links.join(',')}]}`;
}

/** The protocol's refusal as the registrar's: a bad signature, a broken succession, or a malformed manifest. */
export function manifestRefusal(err: unknown, prefix = ''): unknown {
  if (!(err instanceof ProtocolError)) return err;
  const field = err.field;
  const message = prefix + err.message;
  if (field === 'signature') return new ProvisioningError('ERR_PROV_BAD_SIGNATURE', message, field);
  if (err.code === 'ERR_PROTOCOL_ROOT_KEY') return new ProvisioningError('ERR_PROV_MANIFEST_SUCCESSION', message, field);
  if (field === 'version' || field === 'genesis' || field === 'network') return new ProvisioningError('ERR_PROV_MANIFEST_SUCCESSION', message, field);
  return new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', message, field);
}

/**
 * Cacheable: a version's content never changes, so its number is a strong ETag; a minute of
 * caching spares the root a fleet's start-up fetches, and nodes also take newer manifests from
 * the broker (retained) without waiting for it.
 */
export const MANIFEST_CACHE_CONTROL = 'public, max-age=60';

/** The ETag of a manifest version. */
export const manifestEtag = (version: number): string => `"${version}"`;

/** Whether an If-None-Match header names this ETag (or `*`); weak forms compare by their tag. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}
