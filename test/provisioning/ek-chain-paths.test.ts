// Path building through a line's uploaded intermediates (provisioning/manifest/chain.ts), on
// certificates made with openssl: what passes, and each refusal with its code and reason.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntermediatePaths } from '../../provisioning/manifest/chain.ts';
import { parseManifestLine, TrustStore } from '../../provisioning/manifest/index.ts';
import { caProfile, parseCertificate } from '../../provisioning/manifest/x509.ts';
import { issue, makeRoot, type TestCa } from './openssl-ca.ts';

const DAY = 24 * 3600_000;

describe('EK certificate paths through uploaded intermediates', () => {
  let dir: string;
  let root: TestCa;
  let trust: TrustStore;
  const ekPem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const leafUnder = (ca: TestCa, name: string): X509Certificate => new X509Certificate(issue(dir, name, ca, { subject: `/CN=EK ${name}`, publicKeyPem: ekPem() }).der);
  const paths = (now = Date.now()): IntermediatePaths => new IntermediatePaths(trust, now);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'btn-chain-paths-'));
    root = makeRoot(dir, 'root', '/CN=Paths Root');
    trust = TrustStore.fromPem(root.pem);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads basicConstraints and keyUsage', () => {
    expect(caProfile(root.der)).toEqual({ ca: true, pathLen: null, keyCertSign: true });
    expect(caProfile(issue(dir, 'p0', root, { subject: '/CN=P0', extensions: 'ca-pathlen-0' }).der)).toEqual({ ca: true, pathLen: 0, keyCertSign: true });
    expect(caProfile(issue(dir, 'nc', root, { subject: '/CN=NC', extensions: 'not-ca' }).der)).toEqual({ ca: false, pathLen: null, keyCertSign: true });
    expect(caProfile(issue(dir, 'ns', root, { subject: '/CN=NS', extensions: 'no-cert-sign' }).der)).toEqual({ ca: true, pathLen: null, keyCertSign: false });
  });

  it('root -> intermediate -> EK, and root -> two intermediates -> EK given in any order', () => {
    const a = issue(dir, 'a', root, { subject: '/CN=A' });
    expect(paths().check(leafUnder(a, 'a-leaf'), [a.der])).toBeNull();
    // An intermediate that made one path is not trusted for the next line that does not carry it.
    const once = paths();
    expect(once.check(leafUnder(a, 'a-leaf-1'), [a.der])).toBeNull();
    expect(once.check(leafUnder(a, 'a-leaf-2'), [])?.code).toBe('ERR_EK_CERT_UNTRUSTED');
    expect(trust.check(leafUnder(a, 'a-leaf-3'), Date.now())).toBe('untrusted');
    const b = issue(dir, 'b', a, { subject: '/CN=B' });
    expect(paths().check(leafUnder(b, 'b-leaf'), [b.der, a.der])).toBeNull();
    expect(paths().check(leafUnder(b, 'b-leaf2'), [a.der, b.der])).toBeNull();
  });

  it('names the missing issuer: the EK\'s, or an intermediate\'s', () => {
    const a = issue(dir, 'm-a', root, { subject: '/CN=Missing A' });
    const b = issue(dir, 'm-b', a, { subject: '/CN=Missing B' });
    const other = issue(dir, 'm-other', root, { subject: '/CN=Other' });
    expect(paths().check(leafUnder(b, 'm-leaf'), [other.der])).toEqual({ code: 'ERR_EK_CERT_UNTRUSTED', reason: expect.stringMatching(/^EK certificate is issued by "CN=Missing B", which is neither a trusted TPM-vendor CA nor among/) });
    expect(paths().check(leafUnder(b, 'm-leaf2'), [b.der])).toEqual({ code: 'ERR_EK_CERT_UNTRUSTED', reason: expect.stringMatching(/^intermediate "CN=Missing B" is issued by "CN=Missing A"/) });
  });

  it('an intermediate with the issuer\'s name but another key does not verify', () => {
    const real = issue(dir, 'twin-1', root, { subject: '/CN=Twin' });
    const twin = issue(dir, 'twin-2', root, { subject: '/CN=Twin' });
    expect(paths().check(leafUnder(real, 'twin-leaf'), [twin.der])?.code).toBe('ERR_EK_CERT_UNTRUSTED');
  });

  it('refuses an intermediate that is not a CA, may not sign certificates, or exceeds a pathLenConstraint', () => {
    const notCa = issue(dir, 'r-nc', root, { subject: '/CN=Not CA', extensions: 'not-ca' });
    expect(paths().check(leafUnder(notCa, 'r-nc-leaf'), [notCa.der])).toEqual({ code: 'ERR_EK_CHAIN_INVALID', reason: 'intermediate "CN=Not CA" is not a CA certificate (basicConstraints cA is not set)' });
    const noSign = issue(dir, 'r-ns', root, { subject: '/CN=No Sign', extensions: 'no-cert-sign' });
    expect(paths().check(leafUnder(noSign, 'r-ns-leaf'), [noSign.der])).toEqual({ code: 'ERR_EK_CHAIN_INVALID', reason: 'intermediate "CN=No Sign" may not sign certificates (keyUsage lacks keyCertSign)' });
    const p0 = issue(dir, 'r-p0', root, { subject: '/CN=Path Zero', extensions: 'ca-pathlen-0' });
    expect(paths().check(leafUnder(p0, 'r-p0-leaf'), [p0.der])).toBeNull();
    const below = issue(dir, 'r-below', p0, { subject: '/CN=Below Path Zero' });
    expect(paths().check(leafUnder(below, 'r-below-leaf'), [below.der, p0.der])).toEqual({ code: 'ERR_EK_CHAIN_INVALID', reason: 'intermediate "CN=Path Zero" allows 0 CA certificate(s) below it, the path has 1' });
  });

  it('refuses a path with an expired intermediate', () => {
    const short = issue(dir, 'short', root, { subject: '/CN=Short Lived', days: 1 });
    const leaf = leafUnder(short, 'short-leaf');
    expect(paths().check(leaf, [short.der])).toBeNull();
    expect(paths(Date.now() + 2 * DAY).check(leaf, [short.der])?.code).toBe('ERR_EK_CERT_NOT_VALID_NOW');
  });

  it('the DER fast path agrees: passes, refuses a non-CA, and leaves a missing issuer to the full check', () => {
    const a = issue(dir, 'f-a', root, { subject: '/CN=Fast A' });
    const b = issue(dir, 'f-b', a, { subject: '/CN=Fast B' });
    const der = (c: X509Certificate) => parseCertificate(new Uint8Array(c.raw))!;
    expect(paths().checkParsed(der(leafUnder(b, 'f-leaf')), [a.der, b.der])).toBeNull();
    expect(paths(Date.now() + 20 * 365 * DAY).checkParsed(der(leafUnder(b, 'f-leaf-late')), [a.der, b.der])?.code).toBe('ERR_EK_CERT_NOT_VALID_NOW');
    expect(paths().checkParsed(der(leafUnder(b, 'f-leaf2')), [a.der])).toBeUndefined();
    const notCa = issue(dir, 'f-nc', root, { subject: '/CN=Fast Not CA', extensions: 'not-ca' });
    expect(paths().checkParsed(der(leafUnder(notCa, 'f-nc-leaf')), [notCa.der])?.code).toBe('ERR_EK_CHAIN_INVALID');
    const twin = issue(dir, 'f-twin', root, { subject: '/CN=Fast A' });
    expect(paths().checkParsed(der(leafUnder(a, 'f-twin-leaf')), [twin.der])).toBeUndefined();
  });

  it('bounds the chain: at most 4 certificates, each X.509 of at most 4096 bytes', () => {
    const a = issue(dir, 'b-a', root, { subject: '/CN=Bound A' });
    const leaf = leafUnder(a, 'b-leaf');
    expect(paths().check(leaf, [a.der, a.der, a.der, a.der, a.der])).toEqual({ code: 'ERR_EK_CHAIN_MALFORMED', reason: 'ekChain holds 5 certificates, at most 4' });
    expect(paths().check(leaf, [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])])).toEqual({ code: 'ERR_EK_CHAIN_MALFORMED', reason: 'ekChain[0] is not an X.509 certificate' });
    expect(paths().check(leaf, [new Uint8Array(4097)])?.reason).toBe('ekChain[0] is 4097 bytes, at most 4096');
  });

  it('a line\'s ekChain: optional, base64 DER or PEM, its content refused under ERR_EK_CHAIN_MALFORMED', () => {
    const base = { serial: 'S', board: 'b', ekPublic: '00', ekCertificate: Buffer.from(root.der).toString('base64'), sealingPublic: '00' };
    const parse = (extra: object): string => {
      const r = parseManifestLine(JSON.stringify({ ...base, ...extra }));
      return 'code' in r ? r.code : `chain of ${r.ekChain.length}`;
    };
    expect(parse({})).toBe('chain of 0');
    expect(parse({ ekChain: [root.pem, Buffer.from(root.der).toString('base64')] })).toBe('chain of 2');
    expect(parse({ ekChain: ['not base64!'] })).toBe('ERR_EK_CHAIN_MALFORMED');
    expect(parse({ ekChain: [Buffer.alloc(4097, 1).toString('base64')] })).toBe('ERR_EK_CHAIN_MALFORMED');
    expect(parse({ ekChain: 'one' })).toBe('ERR_LINE_FIELD');
    expect(parse({ ekChain: ['a', 'b', 'c', 'd', 'e'] })).toBe('ERR_LINE_FIELD');
  });
});
