// A signed, versioned vendor CA bundle: TPM vendors' CA certificates shipped with a release, so
// operators need not collect them by hand. The registrar is configured with the release key
// (`serve --vendor-ca-key HEX`) and loads the bundle's certificates as anchors next to the trust
// directory's; an unsigned or wrongly signed bundle is refused, and so is one older than (or
// different from, at the same version) the newest the store has seen, so a stale bundle cannot
// bring back a CA a newer release dropped.
//
// The signature is Ed25519 by the release key over
//   "btn-vendor-ca-bundle/v1\n" || decimal version || "\n" || created || "\n" || SHA-256(DER of each certificate, in order)
// (certificates by their DER, so re-wrapping a PEM does not change what was signed).
import { createHash, X509Certificate } from 'node:crypto';
import { ProvisioningError, type ProvisioningErrorCode } from '../errors.ts';
import { ed25519PublicKeyObject, ed25519Sign, ed25519Verify, type Ed25519Key } from '../keys.ts';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { array, hexText, integer, JsonError, literal, object, optional, parseJson, readWith, string } from '../../firmware/core/json.ts';
import type { TrustSource } from './trust.ts';
import type { ProvisioningStore } from '../store/types.ts';
import { open } from 'node:fs/promises';

export const VENDOR_BUNDLE_FORMAT = 'btn-vendor-ca-bundle/v1';
const DOMAIN = 'btn-vendor-ca-bundle/v1\n';
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;
export const MAX_BUNDLE_CERTIFICATES = 1000;
const MAX_PEM_CHARS = 16 * 1024;
const PEM_ONE = /^-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----\s*$/;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

export interface VendorBundle {
  readonly format: typeof VENDOR_BUNDLE_FORMAT;
  readonly version: number;
  /** ISO 8601 UTC, when the bundle was made. */
  readonly created: string;
  /** One PEM block each. */
  readonly certificates: readonly string[];
  /** hex Ed25519 signature by the release key. */
  readonly signature: string;
}

/** A bundle whose signature verified: its certificates as a trust source, and its digest for the store. */
export interface LoadedBundle {
  readonly version: number;
  readonly created: string;
  /** hex SHA-256 of the signed message. */
  readonly sha256: string;
  readonly count: number;
  readonly source: TrustSource;
}

const fail = (code: ProvisioningErrorCode, message: string): ProvisioningError => new ProvisioningError(code, message, 'vendor-ca-bundle');

function derOf(pem: string, where: string): Uint8Array {
  const m = PEM_ONE.exec(pem);
  if (m === null) throw fail('ERR_PROV_BUNDLE_INVALID', `${where} is not one PEM certificate block`);
  const der = new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw fail('ERR_PROV_BUNDLE_INVALID', `${where} is not an X.509 certificate`);
  }
  if (!cert.ca) throw fail('ERR_PROV_BUNDLE_INVALID', `${where} (${cert.subject.split('\n').join(', ').slice(0, 120)}) is not a CA certificate`);
  return der;
}

/** The exact bytes the release key signs. */
export function bundleSignedMessage(version: number, created: string, ders: readonly Uint8Array[]): Uint8Array {
  const parts = [Buffer.from(`${DOMAIN}${version}\n${created}\n`, 'utf8')];
  for (const der of ders) parts.push(createHash('sha256').update(der).digest());
  return new Uint8Array(Buffer.concat(parts));
}

/** A bundle of the certificates in `pemTexts` (each text may hold several PEM blocks), signed with `key`. */
export function makeVendorBundle(input: { readonly version: number; readonly created: Date; readonly pemTexts: readonly { name: string; text: string }[]; readonly key: Ed25519Key }): VendorBundle {
  if (!Number.isSafeInteger(input.version) || input.version < 1) throw fail('ERR_PROV_BUNDLE_INVALID', 'version must be an integer of at least 1');
  const certificates: string[] = [];
  const ders: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const { name, text } of input.pemTexts) {
    const blocks = text.match(PEM_BLOCK) ?? [];
    if (blocks.length === 0) throw fail('ERR_PROV_BUNDLE_INVALID', `${name} holds no PEM certificate`);
    for (const [i, block] of blocks.entries()) {
      const der = derOf(block, `${name} certificate ${i + 1}`);
      const print = createHash('sha256').update(der).digest('hex');
      if (seen.has(print)) continue;
      seen.add(print);
      ders.push(der);
      certificates.push(`-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`);
    }
  }
  if (certificates.length > MAX_BUNDLE_CERTIFICATES) throw fail('ERR_PROV_BUNDLE_INVALID', `${certificates.length} certificates, at most ${MAX_BUNDLE_CERTIFICATES}`);
  const created = input.created.toISOString();
  const signature = toHex(ed25519Sign(input.key, bundleSignedMessage(input.version, created, ders)));
  return { format: VENDOR_BUNDLE_FORMAT, version: input.version, created, certificates, signature };
}

const bundleShape = object({
  format: literal(VENDOR_BUNDLE_FORMAT),
  version: integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  created: string({ min: 20, max: 30, pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/, what: 'an ISO 8601 UTC time' }),
  certificates: array(string({ min: 1, max: MAX_PEM_CHARS }), { max: MAX_BUNDLE_CERTIFICATES }),
  signature: optional(hexText({ bytes: 64 })),
});

/**
 * Parses and verifies a bundle file's text against the release public key (32 bytes). Refusals:
 * ERR_PROV_BUNDLE_INVALID (not a bundle, a bad field or certificate), ERR_PROV_BUNDLE_UNSIGNED,
 * ERR_PROV_BUNDLE_BAD_SIGNATURE. The version check against the store is the caller's
 * (acceptVendorBundle).
 */
export function verifyVendorBundle(text: string, releaseKey: Uint8Array, name = 'vendor CA bundle'): LoadedBundle {
  let doc: unknown;
  try {
    doc = parseJson(text, MAX_BUNDLE_BYTES, name);
  } catch (err) {
    throw fail('ERR_PROV_BUNDLE_INVALID', err instanceof JsonError && err.code === 'ERR_JSON_OVERSIZE' ? err.message : `${name} is not JSON`);
  }
  const b = readWith(bundleShape, doc, name, (err) => fail('ERR_PROV_BUNDLE_INVALID', err.message));
  if (b.signature === undefined) throw fail('ERR_PROV_BUNDLE_UNSIGNED', `${name} carries no signature; only a bundle signed with the release key is loaded`);
  const ders = b.certificates.map((pem, i) => derOf(pem, `${name} certificate ${i + 1}`));
  const message = bundleSignedMessage(b.version, b.created, ders);
  if (!ed25519Verify(ed25519PublicKeyObject(releaseKey), message, fromHex(b.signature))) {
    throw fail('ERR_PROV_BUNDLE_BAD_SIGNATURE', `${name} version ${b.version}: the signature does not verify with the configured release key ${toHex(releaseKey).slice(0, 16)}...`);
  }
  return {
    version: b.version, created: b.created, sha256: createHash('sha256').update(message).digest('hex'), count: ders.length,
    source: { source: `vendor CA bundle v${b.version} (${b.created})`, pem: b.certificates.join('\n') },
  };
}

/** Reads (at most MAX_BUNDLE_BYTES) and verifies a bundle file. */
export async function readVendorBundle(path: string, releaseKey: Uint8Array): Promise<LoadedBundle> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_BUNDLE_BYTES) throw fail('ERR_PROV_BUNDLE_INVALID', `${path} is ${size} bytes, more than ${MAX_BUNDLE_BYTES}`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof ProvisioningError) throw err;
    throw fail('ERR_PROV_BUNDLE_INVALID', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return verifyVendorBundle(text, releaseKey, path);
}

/** Records the bundle in the store, or refuses it (ERR_PROV_BUNDLE_OLDER) when an older or a different one of the same version would replace the newest loaded. */
export async function acceptVendorBundle(bundle: LoadedBundle, store: Pick<ProvisioningStore, 'acceptVendorBundle'>, now: number): Promise<void> {
  const { accepted, stored } = await store.acceptVendorBundle({ version: bundle.version, sha256: bundle.sha256, loadedAt: now });
  if (accepted) return;
  throw fail('ERR_PROV_BUNDLE_OLDER', stored.version > bundle.version
    ? `vendor CA bundle version ${bundle.version} is older than version ${stored.version}, loaded ${new Date(stored.loadedAt).toISOString()}; use that bundle or a newer one`
    : `vendor CA bundle version ${bundle.version} differs from the version ${stored.version} loaded ${new Date(stored.loadedAt).toISOString()} (another digest); a changed bundle needs a new version`);
}
