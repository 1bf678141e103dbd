// EK certificates against a directory of TPM-vendor CA certificates. Every CA certificate in the
// directory is a trust anchor (RFC 5280 §6.1.1 (d): an anchor need not be self-signed). Operators
// ship vendors' intermediates without the root above them (Infineon's "IFX TPM EK Root CA" is
// itself issued by a VeriSign root nobody ships; STMicro's ECC root by GlobalSign's), and a
// directory that is a set of anchors files those TPMs. What each certificate was loaded as, and
// why, is in `entries` (`btn-provision trust list`). A leaf (the EK certificate) must be issued by
// one of the anchors: name and key identifiers match (checkIssued), its signature verifies, and
// the leaf and that anchor are valid at the check time.
import { verify, X509Certificate, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProvisioningError } from '../errors.ts';
import { parseCertificate, type ParsedCertificate } from './x509.ts';
import { toHex } from '../../firmware/core/bytes.ts';

/** A factory's clock may run ahead of the registrar's: accept notBefore up to 5 minutes ahead. */
export const CLOCK_SKEW_MS = 5 * 60_000;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g;

export interface TrustedCa {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  /** The anchor's own validity (ms). */
  readonly notBefore: number;
  readonly notAfter: number;
}

/** What a certificate in the trust directory was loaded as. */
export type TrustRole = 'root' | 'anchor' | 'duplicate' | 'ignored';

export interface TrustEntry {
  readonly subject: string;
  readonly issuer: string;
  readonly role: TrustRole;
  /** Why, in words: self-signed, issued by a CA in the directory, issued by one not in it, or why ignored. */
  readonly why: string;
  readonly notAfter: string;
  readonly sha256: string;
  /** Where it came from: a file of the trust directory, or a signed vendor CA bundle. */
  readonly source: string;
}

/** PEM text and where it came from (shown by `trust list`). */
export interface TrustSource {
  readonly source: string;
  readonly pem: string;
}

export type ChainFailure = 'untrusted' | 'not-valid-now';

export class TrustStore {
  readonly #bySubject = new Map<string, TrustedCa[]>();
  /** Same CAs keyed by the DER bytes of their subject name (hex), for the fast path. */
  readonly #bySubjectDer = new Map<string, number[]>();
  /** All CAs in load order; indices are what signature workers report. */
  readonly #list: TrustedCa[] = [];
  readonly ignored: { readonly subject: string; readonly reason: string }[] = [];
  /** Every certificate of the directory, in load order, with its role and why. */
  readonly entries: TrustEntry[] = [];

  get size(): number {
    let n = 0;
    for (const list of this.#bySubject.values()) n += list.length;
    return n;
  }

  /** The directory's certificates, then those of `extra` (a vendor CA bundle), all as anchors. */
  static async fromDirectory(dir: string, extra: readonly TrustSource[] = []): Promise<TrustStore> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.(pem|crt|cer)$/i.test(n)).sort();
    } catch (err) {
      throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `cannot read trust directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, 'trust');
    }
    const sources: TrustSource[] = [];
    for (const n of names) sources.push({ source: `trust directory ${n}`, pem: await readFile(join(dir, n), 'utf8') });
    return TrustStore.fromSources([...sources, ...extra]);
  }

  static fromPem(text: string): TrustStore {
    return TrustStore.fromSources([{ source: 'PEM', pem: text }]);
  }

  static fromSources(sources: readonly TrustSource[]): TrustStore {
    const certs: X509Certificate[] = [];
    const from = new Map<X509Certificate, string>();
    for (const { source, pem } of sources) {
      for (const block of pem.match(PEM_BLOCK) ?? []) {
        let c: X509Certificate;
        try {
          c = new X509Certificate(block);
        } catch {
          throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `${source} holds a malformed PEM certificate`, 'trust');
        }
        certs.push(c);
        from.set(c, source);
      }
    }
    const store = new TrustStore();
    const line = (c: X509Certificate, role: TrustRole, why: string): TrustEntry => ({
      subject: oneLine(c.subject), issuer: oneLine(c.issuer), role, why, notAfter: new Date(c.validTo).toISOString(), sha256: c.fingerprint256.replaceAll(':', '').toLowerCase(),
      source: from.get(c) ?? 'PEM',
    });
    const cas = certs.filter((c) => {
      if (c.ca) return true;
      store.ignored.push({ subject: c.subject, reason: 'not a CA certificate' });
      store.entries.push(line(c, 'ignored', 'not a CA certificate (basicConstraints CA is not set): it cannot issue EK certificates'));
      return false;
    });
    for (const c of cas) store.#add({ cert: c, key: c.publicKey, notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo) });
    const seen = new Set<string>();
    for (const c of cas) {
      if (seen.has(c.fingerprint256)) {
        store.entries.push(line(c, 'duplicate', 'the same certificate again (loaded once)'));
        continue;
      }
      seen.add(c.fingerprint256);
      if (c.checkIssued(c) && c.verify(c.publicKey)) {
        store.entries.push(line(c, 'root', 'self-signed'));
        continue;
      }
      const issuer = store.anchorOf(c);
      store.entries.push(line(c, 'anchor', issuer === null
        ? `its issuer (${oneLine(c.issuer)}) is not in the directory: trusted as given`
        : `issued by ${oneLine(issuer.cert.subject)}, also in the directory; trusted as given`));
    }
    return store;
  }

  /**
   * Fast path on the DER bytes: issuer name matched byte for byte against a trusted CA subject,
   * signature verified with that CA's key. `undefined` when the fast path does not apply (an
   * unusual encoding or algorithm, or no byte-identical issuer): use check() with X509Certificate.
   */
  checkDer(der: Uint8Array, now: number): { failure: ChainFailure | null; spki: Uint8Array } | undefined {
    const located = this.locate(der);
    if (located === undefined) return undefined;
    const ca = this.verifyInline(located.parsed, located.candidates);
    return { failure: this.finish(located.parsed, ca, now), spki: located.parsed.spki };
  }

  /** Fast-path step 1: parse the DER and find the CAs whose subject is the issuer, byte for byte. */
  locate(der: Uint8Array): { parsed: ParsedCertificate; candidates: readonly number[] } | undefined {
    const parsed = parseCertificate(der);
    if (parsed === null) return undefined;
    const candidates = this.#bySubjectDer.get(toHex(parsed.issuer));
    return candidates === undefined ? undefined : { parsed, candidates };
  }

  /** Fast-path step 2 (or a worker's job): index of the candidate CA whose key verifies, or -1. */
  verifyInline(c: ParsedCertificate, candidates: readonly number[]): number {
    for (const i of candidates) {
      try {
        if (verify(c.hash, c.tbs, this.#list[i]!.key, c.signature)) return i;
      } catch {
        // malformed signature: not verified by this CA
      }
    }
    return -1;
  }

  /** Fast-path step 3: -1 (no CA key verified: forged or from another CA) is untrusted; else the path's validity. */
  finish(c: ParsedCertificate, caIndex: number, now: number): ChainFailure | null {
    const ca = this.#list[caIndex];
    if (caIndex < 0 || ca === undefined) return 'untrusted';
    const notBefore = Math.max(ca.notBefore, c.notBefore);
    const notAfter = Math.min(ca.notAfter, c.notAfter);
    return now + CLOCK_SKEW_MS < notBefore || now > notAfter ? 'not-valid-now' : null;
  }

  /** SPKI DER of every CA key, in index order (for signature workers). */
  caKeys(): Uint8Array[] {
    return this.#list.map((ca) => new Uint8Array(ca.key.export({ type: 'spki', format: 'der' })));
  }

  /** Every anchor as PEM, in index order: fromPem() of it is this store again (for worker threads). */
  anchorsPem(): string {
    return this.#list.map((ca) => ca.cert.toString()).join('');
  }

  /** null when an anchor issued the certificate and both are valid at `now`. */
  check(leaf: X509Certificate, now: number): ChainFailure | null {
    const issuer = this.anchorOf(leaf);
    if (issuer === null) return 'untrusted';
    const notBefore = Math.max(issuer.notBefore, Date.parse(leaf.validFrom));
    const notAfter = Math.min(issuer.notAfter, Date.parse(leaf.validTo));
    return now + CLOCK_SKEW_MS < notBefore || now > notAfter ? 'not-valid-now' : null;
  }

  #add(ca: TrustedCa): void {
    if (this.size >= 10_000) throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', 'trust directory holds more than 10,000 CA certificates', 'trust');
    const list = this.#bySubject.get(ca.cert.subject) ?? [];
    if (list.some((x) => x.cert.fingerprint256 === ca.cert.fingerprint256)) return;
    list.push(ca);
    this.#bySubject.set(ca.cert.subject, list);
    this.#list.push(ca);
    const parsed = parseCertificate(new Uint8Array(ca.cert.raw));
    if (parsed !== null) {
      const k = toHex(parsed.subject);
      this.#bySubjectDer.set(k, [...(this.#bySubjectDer.get(k) ?? []), this.#list.length - 1]);
    }
  }

  /** The anchor that issued `cert` (names, key identifiers and signature), or null. */
  anchorOf(cert: X509Certificate): TrustedCa | null {
    for (const ca of this.#bySubject.get(cert.issuer) ?? []) {
      if (cert.checkIssued(ca.cert) && cert.verify(ca.key)) return ca;
    }
    return null;
  }
}

/** "C=DE\nO=...\nCN=..." as one line. */
export function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
