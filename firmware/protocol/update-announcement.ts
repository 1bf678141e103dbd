// The fleet's update announcement (docs/updates.md): the root key signs which version, for which
// board (RAUC's compatible), where the bundle is and its SHA-256 and size, and the window over
// which nodes spread their installs. Retained on <prefix>/updates, which only the root may
// publish; a node checks the signature with the root key it already trusts before it downloads a
// byte, and RAUC then checks the bundle's own signature against the vendor keyring in the image.
import { verifyUnderAny } from './root-keys.ts';
import { ProtocolError } from './errors.ts';
import { fromHex } from '../core/bytes.ts';
import { hexText, integer, literal, map, object, string } from '../core/json.ts';
import { messageSchema, type ProtocolSchema } from './message-schema.ts';

export const UPDATE_FORMAT = 'btn-update/v1';
const DOMAIN = 'btn-update/v1\n';

/** A bundle is a root file system and its hash tree: never larger than this. */
export const MAX_ANNOUNCED_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024;
/** Nodes spread their installs over at most a week. */
export const MAX_UPDATE_WINDOW_MS = 7 * 24 * 3600_000;
export const MAX_UPDATE_ANNOUNCEMENT_BYTES = 8 * 1024;

export interface UpdateAnnouncement {
  readonly format: typeof UPDATE_FORMAT;
  readonly network: string;
  /** Semantic version of the bundle (the device compares it with its own and its floor). */
  readonly version: string;
  /** RAUC's compatible string of the board it is for (btn-node-<board>). */
  readonly compatible: string;
  /** Where the bundle is (http or https). */
  readonly url: string;
  /** SHA-256 of the bundle file, lowercase hex. */
  readonly sha256: string;
  readonly size: number;
  /** When the root signed it (ms); the window starts then. */
  readonly issuedAt: number;
  /** Nodes install at a point of their own inside [issuedAt, issuedAt + windowMs). */
  readonly windowMs: number;
  /** Ed25519 by the root key over updateSignedBytes, lowercase hex. */
  readonly signature: string;
}

export type UnsignedAnnouncement = Omit<UpdateAnnouncement, 'format' | 'signature'>;

/** The bytes the root signs: a domain line, then the fields in a fixed order. */
export function updateSignedBytes(a: UnsignedAnnouncement): Uint8Array {
  const canonical = JSON.stringify([UPDATE_FORMAT, a.network, a.version, a.compatible, a.url, a.sha256, a.size, a.issuedAt, a.windowMs]);
  return new Uint8Array(Buffer.from(DOMAIN + canonical, 'utf8'));
}

const TOKEN = /^[A-Za-z0-9._+-]+$/;
const token = (max: number, what: string) => map(string({ min: 1, max }), (s, where) => {
  if (!TOKEN.test(s)) throw new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', `${where}: ${what} may hold letters, digits and . _ + - only`);
  return s;
});
const bundleUrl = map(string({ min: 8, max: 2048 }), (s, where) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', `${where}: not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', `${where}: a bundle is fetched over http or https, not ${u.protocol}`);
  if (u.username !== '' || u.password !== '') throw new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', `${where}: no credentials in the URL`);
  return s;
});

/** The announcement's fields, exact (its signature is checked with the root key by verifyUpdateAnnouncement). */
export const updateAnnouncementShape = object({
  format: literal(UPDATE_FORMAT),
  network: token(64, 'a network name'),
  version: token(64, 'a version'),
  compatible: token(128, 'a compatible string'),
  url: bundleUrl,
  sha256: hexText({ bytes: 32, lowercase: true }),
  size: integer({ min: 1, max: MAX_ANNOUNCED_BUNDLE_BYTES }),
  issuedAt: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  windowMs: integer({ min: 0, max: MAX_UPDATE_WINDOW_MS }),
  signature: hexText({ bytes: 64, lowercase: true }),
});

export const updateAnnouncementMessage: ProtocolSchema<UpdateAnnouncement> = messageSchema('update', MAX_UPDATE_ANNOUNCEMENT_BYTES, updateAnnouncementShape);

/** Throws ProtocolError unless `a` is signed by the root key (or during a rotation's window, either key) for this network. */
export function verifyUpdateAnnouncement(a: UpdateAnnouncement, rootPublicKey: Uint8Array | readonly Uint8Array[], network: string): void {
  if (a.network !== network) throw new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', `update announcement for network "${a.network}", this node is on "${network}"`);
  if (verifyUnderAny(rootPublicKey instanceof Uint8Array ? [rootPublicKey] : rootPublicKey, updateSignedBytes(a), fromHex(a.signature, 'signature')) === null) {
    throw new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', 'update announcement signature does not verify under the root key');
  }
}
