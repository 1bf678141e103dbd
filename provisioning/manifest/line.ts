// One manifest line: parse (strict JSON shape, size caps) and check (EK public area, EK
// certificate chain and key, sealing key attributes). Every rejection names its reason.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { MAX_PUBLIC_BYTES, parsePublic, publicKeySpki, type TpmPublic } from '../../tpm/public-area.ts';
import { nodeIdFromSpki } from '../../firmware/protocol/identity.ts';
import { ekProblem, sealingKeyProblem } from '../../tpm/key-rules.ts';
import type { NewDevice } from '../store/types.ts';
import type { TrustStore } from './trust.ts';
import { parseCertificate, type ParsedCertificate } from './x509.ts';
import { array, hex, invalid, JsonError, map, object, optional, string, type Reader } from '../../firmware/core/json.ts';
import { IntermediatePaths, MAX_CHAIN_CERT_BYTES, MAX_CHAIN_CERTS } from './chain.ts';

export const MAX_LINE_BYTES = 16 * 1024;
export const MAX_BATCH_LINES = 100_000;
const MAX_CERT_BYTES = 8 * 1024;

export type LineRejectCode =
  | 'ERR_LINE_TOO_LONG'
  | 'ERR_LINE_MALFORMED'
  | 'ERR_LINE_FIELD'
  | 'ERR_EK_PUBLIC_INVALID'
  | 'ERR_EK_CERT_MALFORMED'
  | 'ERR_EK_CERT_UNTRUSTED'
  | 'ERR_EK_CERT_NOT_VALID_NOW'
  | 'ERR_EK_CERT_KEY_MISMATCH'
  | 'ERR_EK_CHAIN_MALFORMED'
  | 'ERR_EK_CHAIN_INVALID'
  | 'ERR_SEALING_PUBLIC_INVALID'
  | 'ERR_SEALING_ATTRIBUTES'
  | 'ERR_DUPLICATE_IN_BATCH'
  | 'ERR_FILED_WITH_OTHER_DATA';

export const LINE_REJECT_CODES: readonly LineRejectCode[] = [
  'ERR_LINE_TOO_LONG', 'ERR_LINE_MALFORMED', 'ERR_LINE_FIELD', 'ERR_EK_PUBLIC_INVALID', 'ERR_EK_CERT_MALFORMED',
  'ERR_EK_CERT_UNTRUSTED', 'ERR_EK_CERT_NOT_VALID_NOW', 'ERR_EK_CERT_KEY_MISMATCH', 'ERR_EK_CHAIN_MALFORMED',
  'ERR_EK_CHAIN_INVALID', 'ERR_SEALING_PUBLIC_INVALID', 'ERR_SEALING_ATTRIBUTES', 'ERR_DUPLICATE_IN_BATCH', 'ERR_FILED_WITH_OTHER_DATA',
];

export interface LineRejection {
  readonly code: LineRejectCode;
  readonly reason: string;
}

export interface ManifestLine {
  readonly serial: string;
  readonly board: string;
  readonly ekPublic: Uint8Array;
  readonly ekCertificate: Uint8Array;
  /** Intermediates between the EK certificate and an anchor (DER), often empty. */
  readonly ekChain: readonly Uint8Array[];
  readonly sealingPublic: Uint8Array;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PEM = /^-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----\s*$/;

/**
 * The bytes of base64 text that B64 accepts, else null. Canonical text (what encoders write)
 * re-encodes to itself, which is cheaper to find out than the regex over ~1.7 KB; other text
 * takes the regex.
 */
function base64Bytes(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return (bytes.length > 0 && bytes.toString('base64') === text) || B64.test(text) ? bytes : null;
}

const reject = (code: LineRejectCode, reason: string): LineRejection => ({ code, reason });

// A line's structure (ERR_LINE_FIELD); the keys and the certificate are then read each under its own code.
const anyString = string({ max: MAX_LINE_BYTES, what: 'a string' });
const lineShape = object({
  serial: string({ min: 1, max: 64, pattern: /^[A-Za-z0-9._:/-]{1,64}$/, what: '1-64 characters of A-Z a-z 0-9 . _ : / -' }),
  board: string({ min: 1, max: 64, pattern: /^[A-Za-z0-9._-]{1,64}$/, what: '1-64 characters of A-Z a-z 0-9 . _ -' }),
  ekPublic: anyString,
  ekCertificate: anyString,
  ekChain: optional(array(anyString, { max: MAX_CHAIN_CERTS })),
  sealingPublic: anyString,
});
const publicArea = hex({ min: 1, max: MAX_PUBLIC_BYTES + 2 });
const certificateOf = (max: number): Reader<Uint8Array> => map(string({ max: MAX_LINE_BYTES }), (s, path) => {
  const pem = PEM.exec(s);
  const b64 = pem ? pem[1]!.replace(/\s+/g, '') : s;
  const der = b64.length <= Math.ceil(max / 3) * 4 ? base64Bytes(b64) : null;
  return der === null || der.length === 0 || der.length > max ? invalid(path, `expected DER in base64 or one PEM block, at most ${max} bytes`) : new Uint8Array(der);
});
const certificate = certificateOf(MAX_CERT_BYTES);
const chain = array(certificateOf(MAX_CHAIN_CERT_BYTES), { max: MAX_CHAIN_CERTS });

/** One field through its reader: the value, or the rejection under `code` naming the field. */
function attempt<T>(reader: Reader<T>, value: unknown, path: string, code: (err: JsonError) => LineRejectCode): T | LineRejection {
  try {
    return reader.read(value, path);
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    return reject(code(err), err.path === '' ? 'line is not a JSON object' : err.message);
  }
}

/** Parse one line (without its newline). Returns the fields or why the line is malformed. */
export function parseManifestLine(text: string): ManifestLine | LineRejection {
  if (text.length > MAX_LINE_BYTES) return reject('ERR_LINE_TOO_LONG', `line is longer than ${MAX_LINE_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return reject('ERR_LINE_MALFORMED', 'line is not valid JSON');
  }
  const line = attempt(lineShape, doc, '', (e) => (e.path === '' ? 'ERR_LINE_MALFORMED' : 'ERR_LINE_FIELD'));
  if (isRejection(line)) return line;
  const ekPublic = attempt(publicArea, line.ekPublic, 'ekPublic', () => 'ERR_EK_PUBLIC_INVALID');
  if (isRejection(ekPublic)) return ekPublic;
  const sealingPublic = attempt(publicArea, line.sealingPublic, 'sealingPublic', () => 'ERR_SEALING_PUBLIC_INVALID');
  if (isRejection(sealingPublic)) return sealingPublic;
  const ekCertificate = attempt(certificate, line.ekCertificate, 'ekCertificate', () => 'ERR_EK_CERT_MALFORMED');
  if (isRejection(ekCertificate)) return ekCertificate;
  const ekChain = line.ekChain === undefined ? [] : attempt(chain, line.ekChain, 'ekChain', () => 'ERR_EK_CHAIN_MALFORMED');
  if (isRejection(ekChain)) return ekChain;
  return { serial: line.serial, board: line.board, ekPublic, ekCertificate, ekChain, sealingPublic };
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** EK name digest (store key): SHA-256 of the EK's TPMT_PUBLIC. */
export const ekNameOf = (ek: TpmPublic): string => sha256Hex(ek.bytes);

/** A line checked except for its EK certificate's signature (fast path), or fully (fallback). */
export interface PendingLine {
  readonly device: NewDevice;
  readonly ekSpki: Uint8Array;
  /** Fast path: the certificate signature still to verify against these CAs. */
  readonly cert: { readonly parsed: ParsedCertificate; readonly candidates: readonly number[] } | null;
}

/** Check a parsed line completely; the device record to file, or why not. */
export function checkManifestLine(line: ManifestLine, trust: TrustStore, now: number, paths?: IntermediatePaths): NewDevice | LineRejection {
  const p = precheckManifestLine(line, trust, now, paths);
  if (isRejection(p)) return p;
  return finishManifestLine(p, p.cert === null ? -1 : trust.verifyInline(p.cert.parsed, p.cert.candidates), trust, now);
}

/**
 * Everything but the certificate signature on the fast path (that is the expensive part, which
 * ingest hands to worker threads); unusual certificates, and those issued by an intermediate of
 * the line's ekChain, are checked completely here (`paths`: the batch's, caching its chains).
 */
export function precheckManifestLine(line: ManifestLine, trust: TrustStore, now: number, paths?: IntermediatePaths): PendingLine | LineRejection {
  let ek: TpmPublic;
  try {
    ek = parsePublic(line.ekPublic);
  } catch (err) {
    return reject('ERR_EK_PUBLIC_INVALID', `ekPublic: ${(err as Error).message}`);
  }
  const ekIssue = ekProblem(ek);
  if (ekIssue !== null) return reject('ERR_EK_PUBLIC_INVALID', ekIssue);
  let sealing: TpmPublic;
  try {
    sealing = parsePublic(line.sealingPublic);
  } catch (err) {
    return reject('ERR_SEALING_PUBLIC_INVALID', `sealingPublic: ${(err as Error).message}`);
  }
  const sealProblem = sealingKeyProblem(sealing);
  if (sealProblem !== null) return reject('ERR_SEALING_ATTRIBUTES', sealProblem);
  let ekSpki: Uint8Array;
  try {
    ekSpki = publicKeySpki(ek);
  } catch (err) {
    return reject('ERR_EK_PUBLIC_INVALID', `ekPublic: ${(err as Error).message}`);
  }
  const device: NewDevice = {
    ekName: ekNameOf(ek),
    nodeId: nodeIdFromSpki(publicKeySpki(sealing)),
    ekPublic: line.ekPublic,
    ekCertificate: line.ekCertificate,
    sealingPublic: line.sealingPublic,
    serial: line.serial,
    board: line.board,
  };
  const located = trust.locate(line.ekCertificate);
  if (located !== undefined) return { device, ekSpki, cert: located };
  if (line.ekChain.length > 0) {
    // Issued by an uploaded intermediate: its signature checked on the DER here (the worker
    // pool knows only the anchors' keys), the rest of the path once per batch (chain.ts).
    const parsed = parseCertificate(line.ekCertificate);
    const viaChain = parsed === null ? undefined : (paths ?? new IntermediatePaths(trust, now)).checkParsed(parsed, line.ekChain);
    if (viaChain === null) return sameSpki(parsed!.spki, ekSpki) ? { device, ekSpki, cert: null } : keyMismatch();
    if (viaChain !== undefined) return viaChain;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(line.ekCertificate);
  } catch {
    return reject('ERR_EK_CERT_MALFORMED', 'ekCertificate is not an X.509 certificate');
  }
  const failure = trust.check(cert, now);
  if (failure === 'untrusted' && line.ekChain.length > 0) {
    const problem = (paths ?? new IntermediatePaths(trust, now)).check(cert, line.ekChain);
    if (problem !== null) return problem;
  } else if (failure !== null) {
    return chainRejection(failure, cert);
  }
  const certSpki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
  if (!sameSpki(certSpki, ekSpki)) return keyMismatch();
  return { device, ekSpki, cert: null };
}

/** Completes a pending line given which CA verified its certificate (-1: none). */
export function finishManifestLine(p: PendingLine, verifiedCa: number, trust: TrustStore, now: number): NewDevice | LineRejection {
  if (p.cert !== null) {
    const failure = trust.finish(p.cert.parsed, verifiedCa, now);
    if (failure !== null) return chainRejection(failure, null);
    if (!sameSpki(p.cert.parsed.spki, p.ekSpki)) return keyMismatch();
  }
  return p.device;
}

const keyMismatch = (): LineRejection => reject('ERR_EK_CERT_KEY_MISMATCH', 'EK certificate carries another public key than ekPublic');
const sameSpki = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0 || sameKey(a, b);

function chainRejection(failure: 'untrusted' | 'not-valid-now', cert: X509Certificate | null): LineRejection {
  if (failure === 'untrusted') {
    return reject('ERR_EK_CERT_UNTRUSTED', `EK certificate${cert === null ? '' : ` (issuer "${cert.issuer.slice(0, 120)}")`} does not chain to a trusted TPM-vendor CA`);
  }
  return reject('ERR_EK_CERT_NOT_VALID_NOW', `EK certificate or its CA is not valid now${cert === null ? '' : ` (${cert.validFrom} .. ${cert.validTo})`}`);
}

/** SPKI DER may be encoded differently for the same key; compare after re-encoding. */
function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  try {
    const ka = createPublicKey({ key: Buffer.from(a), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
    return Buffer.compare(ka, b) === 0;
  } catch {
    return false;
  }
}

export const isRejection = (x: object): x is LineRejection => 'code' in x;
