// EK certificate paths through intermediates uploaded with the batch (a line's `ekChain`, read
// by the factory from the TPM's EK certificate chain NV indices or supplied by the vendor):
// anchor -> intermediates -> EK certificate (RFC 5280 §6.1, without policies or name
// constraints). Each intermediate must be issued by the next one up or by an anchor (names and
// signature), be a CA (basicConstraints cA, pathLenConstraint respected), may sign certificates
// (keyUsage keyCertSign when it has a keyUsage), and be valid at the check time. An uploaded
// intermediate only ever extends a path to an anchor of the trust store; it never becomes one.
// One instance per batch caches parsed intermediates and the signatures already checked, so a
// batch whose lines share a chain pays for it once.
import { createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { toHex } from '../../firmware/core/bytes.ts';
import { CLOCK_SKEW_MS, oneLine, type TrustedCa, type TrustStore } from './trust.ts';
import { caProfile, parseCertificate, type CaProfile, type ParsedCertificate } from './x509.ts';

export type ChainRejectCode = 'ERR_EK_CHAIN_MALFORMED' | 'ERR_EK_CHAIN_INVALID' | 'ERR_EK_CERT_UNTRUSTED' | 'ERR_EK_CERT_NOT_VALID_NOW';
/** A line's rejection (line.ts ChainRejection) for its certificate path. */
export interface ChainRejection {
  readonly code: ChainRejectCode;
  readonly reason: string;
}

/** At most this many intermediates per line. */
export const MAX_CHAIN_CERTS = 4;
/** Each intermediate at most this many bytes of DER. */
export const MAX_CHAIN_CERT_BYTES = 4096;
const MAX_CACHED = 256;

interface Intermediate {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  /** hex of the subject name's DER, for the fast path. */
  readonly subjectDer: string;
  readonly profile: CaProfile;
  readonly fingerprint: string;
}

/** Why `x`, with `below` CA certificates under it on the path, may not issue; null when it may. */
function caProblem(x: Intermediate, below: number): ChainRejection | null {
  const p = x.profile;
  if (!p.ca) return reject('ERR_EK_CHAIN_INVALID', `intermediate ${name(x.cert)} is not a CA certificate (basicConstraints cA is not set)`);
  if (p.keyCertSign === false) return reject('ERR_EK_CHAIN_INVALID', `intermediate ${name(x.cert)} may not sign certificates (keyUsage lacks keyCertSign)`);
  if (p.pathLen !== null && below > p.pathLen) return reject('ERR_EK_CHAIN_INVALID', `intermediate ${name(x.cert)} allows ${p.pathLen} CA certificate(s) below it, the path has ${below}`);
  return null;
}

function signedBy(c: ParsedCertificate, x: Intermediate): boolean {
  try {
    return verify(c.hash, c.tbs, x.key, c.signature);
  } catch {
    return false; // a malformed signature
  }
}

const name = (c: X509Certificate): string => `"${oneLine(c.subject).slice(0, 160)}"`;
const reject = (code: ChainRejectCode, reason: string): ChainRejection => ({ code, reason });

export class IntermediatePaths {
  readonly #trust: TrustStore;
  readonly #now: number;
  readonly #parsed = new Map<string, Intermediate | ChainRejection>();
  /** "child fingerprint>issuer fingerprint" pairs whose signature verified. */
  readonly #verified = new Set<string>();
  /** Intermediate fingerprint -> the anchor that issued it, or null. */
  readonly #anchors = new Map<string, TrustedCa | null>();

  constructor(trust: TrustStore, now: number) {
    this.#trust = trust;
    this.#now = now;
  }

  /** null when `leaf` chains through `chain` (DER, any order) to an anchor and every certificate on the path is valid now. */
  check(leaf: X509Certificate, chain: readonly Uint8Array[]): ChainRejection | null {
    const pool = this.#pool(chain);
    if (!Array.isArray(pool)) return pool;
    return this.#climb(leaf, '', true, pool, new Set(), Date.parse(leaf.validFrom), Date.parse(leaf.validTo), chain.length);
  }

  /**
   * check() on the DER fast path (x509.ts), sparing the leaf's X509Certificate: undefined when no
   * uploaded intermediate's subject is byte-equal to the leaf's issuer and verifies its signature
   * (then use check(), which also explains what is missing).
   */
  checkParsed(leaf: ParsedCertificate, chain: readonly Uint8Array[]): ChainRejection | null | undefined {
    const pool = this.#pool(chain);
    if (!Array.isArray(pool)) return pool;
    const issuer = toHex(leaf.issuer);
    const first = pool.find((x) => x.subjectDer === issuer && signedBy(leaf, x));
    if (first === undefined) return undefined;
    const problem = caProblem(first, 0);
    if (problem !== null) return problem;
    const notBefore = Math.max(leaf.notBefore, Date.parse(first.cert.validFrom));
    const notAfter = Math.min(leaf.notAfter, Date.parse(first.cert.validTo));
    return this.#climb(first.cert, first.fingerprint, false, pool, new Set([first]), notBefore, notAfter, chain.length);
  }

  /** The anchor that issued `child`; cached per intermediate (not for the leaf, which has no fingerprint). */
  #anchorOf(child: X509Certificate, childPrint: string): TrustedCa | null {
    if (childPrint === '') return this.#trust.anchorOf(child);
    let anchor = this.#anchors.get(childPrint);
    if (anchor === undefined) {
      anchor = this.#trust.anchorOf(child);
      if (this.#anchors.size < MAX_CACHED) this.#anchors.set(childPrint, anchor);
    }
    return anchor;
  }

  #pool(chain: readonly Uint8Array[]): Intermediate[] | ChainRejection {
    if (chain.length > MAX_CHAIN_CERTS) return reject('ERR_EK_CHAIN_MALFORMED', `ekChain holds ${chain.length} certificates, at most ${MAX_CHAIN_CERTS}`);
    const pool: Intermediate[] = [];
    for (const [i, der] of chain.entries()) {
      const x = this.#intermediate(der, i);
      if ('code' in x) return x;
      pool.push(x);
    }
    return pool;
  }

  /** From `child` up: an anchor ends the path; else the next intermediate of the pool that issued it. */
  #climb(child: X509Certificate, childPrint: string, isLeaf: boolean, pool: readonly Intermediate[], used: Set<Intermediate>, notBefore: number, notAfter: number, total: number): ChainRejection | null {
    for (;;) {
      const anchor = this.#anchorOf(child, childPrint);
      if (anchor !== null) {
        notBefore = Math.max(notBefore, anchor.notBefore);
        notAfter = Math.min(notAfter, anchor.notAfter);
        if (this.#now + CLOCK_SKEW_MS < notBefore || this.#now > notAfter) {
          return reject('ERR_EK_CERT_NOT_VALID_NOW', `EK certificate or a CA on its path to ${name(anchor.cert)} is not valid now`);
        }
        return null;
      }
      const next = pool.find((x) => !used.has(x) && this.#issued(child, childPrint, x));
      if (next === undefined) {
        const what = isLeaf ? 'EK certificate' : `intermediate ${name(child)}`;
        return reject('ERR_EK_CERT_UNTRUSTED', `${what} is issued by "${oneLine(child.issuer).slice(0, 160)}", which is neither a trusted TPM-vendor CA nor among the ${total - used.size} other certificate(s) of ekChain`);
      }
      const problem = caProblem(next, used.size);
      if (problem !== null) return problem;
      used.add(next);
      notBefore = Math.max(notBefore, Date.parse(next.cert.validFrom));
      notAfter = Math.min(notAfter, Date.parse(next.cert.validTo));
      child = next.cert;
      childPrint = next.fingerprint;
      isLeaf = false;
    }
  }

  #intermediate(der: Uint8Array, i: number): Intermediate | ChainRejection {
    if (der.length > MAX_CHAIN_CERT_BYTES) return reject('ERR_EK_CHAIN_MALFORMED', `ekChain[${i}] is ${der.length} bytes, at most ${MAX_CHAIN_CERT_BYTES}`);
    const fingerprint = createHash('sha256').update(der).digest('hex');
    let x = this.#parsed.get(fingerprint);
    if (x === undefined) {
      x = parseIntermediate(der, i, fingerprint);
      if (this.#parsed.size < MAX_CACHED) this.#parsed.set(fingerprint, x);
    }
    return x;
  }

  /**
   * `x` issued `child`: its subject is child's issuer and its key verifies child's signature (not
   * checkIssued, which also wants keyCertSign: that is checked after, to say why). The leaf (no
   * fingerprint) is not cached.
   */
  #issued(child: X509Certificate, childPrint: string, x: Intermediate): boolean {
    const key = `${childPrint}>${x.fingerprint}`;
    if (childPrint !== '' && this.#verified.has(key)) return true;
    if (child.issuer !== x.cert.subject || !child.verify(x.key)) return false;
    if (childPrint !== '' && this.#verified.size < MAX_CACHED) this.#verified.add(key);
    return true;
  }
}

function parseIntermediate(der: Uint8Array, i: number, fingerprint: string): Intermediate | ChainRejection {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return reject('ERR_EK_CHAIN_MALFORMED', `ekChain[${i}] is not an X.509 certificate`);
  }
  const profile = caProfile(der);
  const parsed = parseCertificate(der);
  if (profile === null || parsed === null) return reject('ERR_EK_CHAIN_MALFORMED', `ekChain[${i}] has an encoding or extensions this registrar cannot read`);
  return { cert, key: cert.publicKey, subjectDer: toHex(parsed.subject), profile, fingerprint };
}
