// Just enough DER to check an EK certificate fast (RFC 5280 §4.1): the signed TBS bytes, the
// signature algorithm and value, issuer and subject names (raw DER), validity and the SPKI.
// node:crypto's X509Certificate costs ~175 us to build and ~200 us to export its key here, 10x
// the rest of a manifest line; this parser costs a few microseconds. Anything it does not
// understand returns null and the caller falls back to X509Certificate.
import { toHex } from '../../firmware/core/bytes.ts';

export interface ParsedCertificate {
  readonly tbs: Uint8Array;
  /** node:crypto digest name for verify(), e.g. 'sha256'. */
  readonly hash: string;
  readonly signature: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spki: Uint8Array;
}

// DER of the AlgorithmIdentifier OIDs (contents only) -> hash.
const SIG_ALGS: ReadonlyMap<string, string> = new Map([
  ['2a864886f70d01010b', 'sha256'], // sha256WithRSAEncryption
  ['2a864886f70d01010c', 'sha384'],
  ['2a864886f70d01010d', 'sha512'],
  ['2a864886f70d010105', 'sha1'], // older EK certificates
  ['2a8648ce3d040302', 'sha256'], // ecdsa-with-SHA256
  ['2a8648ce3d040303', 'sha384'],
  ['2a8648ce3d040304', 'sha512'],
]);

interface Tlv { tag: number; start: number; contentStart: number; end: number }

function tlv(b: Uint8Array, o: number, limit: number): Tlv | null {
  if (o + 2 > limit) return null;
  const tag = b[o]!;
  if ((tag & 0x1f) === 0x1f) return null; // multi-byte tags do not occur here
  let len = b[o + 1]!;
  let p = o + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    p += n;
  }
  if (p + len > limit) return null;
  return { tag, start: o, contentStart: p, end: p + len };
}

/** `n` decimal digits at `o`, or -1 when one is not a digit. */
function digits(b: Uint8Array, o: number, n: number): number {
  let v = 0;
  for (let i = o; i < o + n; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

// UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ, read off the bytes (no string, no regex: a batch line parses one certificate).
function time(b: Uint8Array, t: Tlv): number | null {
  const year = t.tag === 0x17 ? 2 : t.tag === 0x18 ? 4 : 0;
  const o = t.contentStart;
  if (year === 0 || t.end - o !== year + 11 || b[t.end - 1] !== 0x5a) return null; // 'Z'
  const y = digits(b, o, year), mo = digits(b, o + year, 2), d = digits(b, o + year + 2, 2);
  const h = digits(b, o + year + 4, 2), mi = digits(b, o + year + 6, 2), sec = digits(b, o + year + 8, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) return null;
  const fullYear = year === 2 ? (y >= 50 ? 1900 + y : 2000 + y) : y; // RFC 5280 §4.1.2.5.1
  return Date.UTC(fullYear, mo - 1, d, h, mi, sec);
}

export function parseCertificate(der: Uint8Array): ParsedCertificate | null {
  const cert = tlv(der, 0, der.length);
  if (cert === null || cert.tag !== 0x30 || cert.end !== der.length) return null;
  const tbs = tlv(der, cert.contentStart, cert.end);
  if (tbs === null || tbs.tag !== 0x30) return null;
  const outerAlg = tlv(der, tbs.end, cert.end);
  if (outerAlg === null || outerAlg.tag !== 0x30) return null;
  const sig = tlv(der, outerAlg.end, cert.end);
  if (sig === null || sig.tag !== 0x03 || sig.end !== cert.end || der[sig.contentStart] !== 0) return null;
  const oid = tlv(der, outerAlg.contentStart, outerAlg.end);
  if (oid === null || oid.tag !== 0x06) return null;
  const hash = SIG_ALGS.get(toHex(der.subarray(oid.contentStart, oid.end)));
  if (hash === undefined) return null;

  let p = tbs.contentStart;
  let f = tlv(der, p, tbs.end);
  if (f !== null && f.tag === 0xa0) f = tlv(der, (p = f.end), tbs.end); // version
  if (f === null || f.tag !== 0x02) return null; // serialNumber
  const innerAlg = tlv(der, f.end, tbs.end);
  if (innerAlg === null || innerAlg.tag !== 0x30) return null;
  // RFC 5280 §4.1.1.2: the TBS signature field must equal signatureAlgorithm.
  if (Buffer.compare(der.subarray(innerAlg.start, innerAlg.end), der.subarray(outerAlg.start, outerAlg.end)) !== 0) return null;
  const issuer = tlv(der, innerAlg.end, tbs.end);
  if (issuer === null || issuer.tag !== 0x30) return null;
  const validity = tlv(der, issuer.end, tbs.end);
  if (validity === null || validity.tag !== 0x30) return null;
  const nb = tlv(der, validity.contentStart, validity.end);
  const na = nb === null ? null : tlv(der, nb.end, validity.end);
  if (nb === null || na === null) return null;
  const notBefore = time(der, nb);
  const notAfter = time(der, na);
  if (notBefore === null || notAfter === null) return null;
  const subject = tlv(der, validity.end, tbs.end);
  if (subject === null || subject.tag !== 0x30) return null;
  const spki = tlv(der, subject.end, tbs.end);
  if (spki === null || spki.tag !== 0x30) return null;
  return {
    tbs: der.subarray(tbs.start, tbs.end),
    hash,
    signature: der.subarray(sig.contentStart + 1, sig.end),
    issuer: der.subarray(issuer.start, issuer.end),
    subject: der.subarray(subject.start, subject.end),
    notBefore,
    notAfter,
    spki: der.subarray(spki.start, spki.end),
  };
}

/** What a CA certificate may do (RFC 5280 §4.2.1.3, §4.2.1.9): from its extensions. */
export interface CaProfile {
  /** basicConstraints cA. */
  readonly ca: boolean;
  /** basicConstraints pathLenConstraint, null when absent. */
  readonly pathLen: number | null;
  /** keyUsage keyCertSign; null when the certificate has no keyUsage extension (unrestricted). */
  readonly keyCertSign: boolean | null;
}

const BASIC_CONSTRAINTS = '551d13';
const KEY_USAGE = '551d0f';

/** The CA-relevant extensions of a DER certificate; null when its TBS cannot be walked. */
export function caProfile(der: Uint8Array): CaProfile | null {
  const cert = tlv(der, 0, der.length);
  const tbs = cert === null ? null : tlv(der, cert.contentStart, cert.end);
  if (tbs === null || tbs.tag !== 0x30) return null;
  let ca = false;
  let pathLen: number | null = null;
  let keyCertSign: boolean | null = null;
  for (let f = tlv(der, tbs.contentStart, tbs.end); f !== null; f = f.end < tbs.end ? tlv(der, f.end, tbs.end) : null) {
    if (f.tag !== 0xa3) continue; // [3] extensions
    const list = tlv(der, f.contentStart, f.end);
    if (list === null || list.tag !== 0x30) return null;
    for (let e = list.contentStart; e < list.end;) {
      const ext = tlv(der, e, list.end);
      if (ext === null || ext.tag !== 0x30) return null;
      e = ext.end;
      const oid = tlv(der, ext.contentStart, ext.end);
      if (oid === null || oid.tag !== 0x06) return null;
      let v = tlv(der, oid.end, ext.end);
      if (v !== null && v.tag === 0x01) v = tlv(der, v.end, ext.end); // critical
      if (v === null || v.tag !== 0x04) return null;
      const id = toHex(der.subarray(oid.contentStart, oid.end));
      if (id === BASIC_CONSTRAINTS) {
        const seq = tlv(der, v.contentStart, v.end);
        if (seq === null || seq.tag !== 0x30) return null;
        let p = seq.contentStart;
        let item = p < seq.end ? tlv(der, p, seq.end) : null;
        if (item !== null && item.tag === 0x01) {
          ca = item.end - item.contentStart === 1 && der[item.contentStart] !== 0;
          p = item.end;
          item = p < seq.end ? tlv(der, p, seq.end) : null;
        }
        if (item !== null && item.tag === 0x02) {
          const len = item.end - item.contentStart;
          if (len < 1 || len > 2) return null;
          pathLen = len === 1 ? der[item.contentStart]! : der[item.contentStart]! * 256 + der[item.contentStart + 1]!;
        }
      } else if (id === KEY_USAGE) {
        const bits = tlv(der, v.contentStart, v.end);
        if (bits === null || bits.tag !== 0x03) return null;
        // contents: unused-bit count, then the bits; keyCertSign is bit 5 (0x04 of the first byte)
        keyCertSign = bits.end - bits.contentStart >= 2 && (der[bits.contentStart + 1]! & 0x04) !== 0;
      }
    }
  }
  return { ca, pathLen, keyCertSign };
}
