// Batch manifests against real swtpm devices: signatures, line checks with each kind of bad
// line, chain checks against the test's own CA directory, ingest into a real SQLite store.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../provisioning/keys.ts';
import {
  checkManifestLine, ingestBatch, isRejection, parseManifestLine, parseSignatureFile, signManifest, splitLines, TrustStore,
  verifyManifest, type ManifestLine,
} from '../../provisioning/manifest/index.ts';
import { CertVerifyPool } from '../../provisioning/manifest/cert-verify-pool.ts';
import { LineCheckPool } from '../../provisioning/manifest/line-check-pool.ts';
import { parseCertificate } from '../../provisioning/manifest/x509.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { parsePublic, publicKeyObject, publicKeySpki } from '../../tpm/public-area.ts';
import { ObjectAttr } from '../../tpm/constants.ts';
import { SEALING_KEY_ATTRIBUTES } from '../../tpm/templates.ts';
import { jsonl, startDevices, withAttributes, type DeviceLab } from './devices.ts';

let trusted: DeviceLab;
let untrusted: DeviceLab;
let trust: TrustStore;
const NOW = Date.now();

beforeAll(async () => {
  // One after another: two swtpm starts at once in one process can pick the same free port.
  trusted = await startDevices(2);
  untrusted = await startDevices(1, { serialPrefix: 'OTHER' });
  trust = await TrustStore.fromDirectory(trusted.caDir);
});
afterAll(async () => {
  await trusted?.destroy();
  await untrusted?.destroy();
});

const parsed = (o: object): ManifestLine => {
  const p = parseManifestLine(JSON.stringify(o));
  if (isRejection(p)) throw new Error(p.reason);
  return p;
};

describe('manifest signature', () => {
  it('signs and verifies; a changed byte, another key or another manufacturer name fails', () => {
    const { key } = generateEd25519();
    const other = generateEd25519().key;
    const manifest = jsonl([{ a: 1 }, { b: 2 }]);
    const sig = parseSignatureFile(JSON.stringify(signManifest(manifest, key, 'acme')));
    expect(sig.lines).toBe(2);
    expect(verifyManifest(manifest, sig, key.publicKey)).toEqual({ ok: true });
    const changed = manifest.slice();
    changed[3] = changed[3]! ^ 1;
    expect(verifyManifest(changed, sig, key.publicKey).ok).toBe(false);
    expect(verifyManifest(manifest, sig, other.publicKey).ok).toBe(false);
    expect(verifyManifest(manifest, { ...sig, manufacturer: 'evil' }, key.publicKey).ok).toBe(false);
    expect(() => parseSignatureFile('{"format":"x"}')).toThrow(/format/);
  });
});

describe('trust store', () => {
  it('loads the swtpm local CA (root + intermediate) as trusted', () => {
    expect(trust.size).toBe(2);
    expect(trust.ignored).toEqual([]);
  });
});

describe('manifest line checks (real swtpm EKs)', () => {
  it('accepts a real device line and derives EK name and node id', () => {
    const r = checkManifestLine(parsed(trusted.devices[0]!.line), trust, NOW);
    expect(isRejection(r)).toBe(false);
    if (!isRejection(r)) {
      expect(r.ekName).toMatch(/^[0-9a-f]{64}$/);
      expect(r.nodeId).toMatch(/^[0-9a-f]{64}$/);
      expect(r.serial).toBe('SN-0');
    }
  });

  it('accepts a PEM certificate as well as base64 DER', () => {
    const l = trusted.devices[0]!.line;
    const pem = `-----BEGIN CERTIFICATE-----\n${l.ekCertificate.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    expect(isRejection(checkManifestLine(parsed({ ...l, ekCertificate: pem }), trust, NOW))).toBe(false);
  });

  const cases: [string, () => object | string, string][] = [
    ['untrusted CA', () => untrusted.devices[0]!.line, 'ERR_EK_CERT_UNTRUSTED'],
    ['certificate for another EK', () => ({ ...trusted.devices[0]!.line, ekCertificate: trusted.devices[1]!.line.ekCertificate }), 'ERR_EK_CERT_KEY_MISMATCH'],
    ['sealing key without fixedTPM', () => ({ ...trusted.devices[0]!.line, sealingPublic: withAttributes(trusted.devices[0]!.line.sealingPublic, SEALING_KEY_ATTRIBUTES & ~ObjectAttr.fixedTPM) }), 'ERR_SEALING_ATTRIBUTES'],
    ['restricted sealing key', () => ({ ...trusted.devices[0]!.line, sealingPublic: withAttributes(trusted.devices[0]!.line.sealingPublic, SEALING_KEY_ATTRIBUTES | ObjectAttr.restricted) }), 'ERR_SEALING_ATTRIBUTES'],
    ['EK given as sealing key', () => ({ ...trusted.devices[0]!.line, sealingPublic: trusted.devices[0]!.line.ekPublic }), 'ERR_SEALING_ATTRIBUTES'],
    ['sealing key given as EK', () => ({ ...trusted.devices[0]!.line, ekPublic: trusted.devices[0]!.line.sealingPublic }), 'ERR_EK_PUBLIC_INVALID'],
    ['truncated EK public', () => ({ ...trusted.devices[0]!.line, ekPublic: trusted.devices[0]!.line.ekPublic.slice(0, 100) }), 'ERR_EK_PUBLIC_INVALID'],
    ['garbage certificate', () => ({ ...trusted.devices[0]!.line, ekCertificate: 'AAAA' }), 'ERR_EK_CERT_MALFORMED'],
    ['not JSON', () => '{"serial": "x",', 'ERR_LINE_MALFORMED'],
    ['unknown field', () => ({ ...trusted.devices[0]!.line, extra: 1 }), 'ERR_LINE_FIELD'],
    ['SQL in serial', () => ({ ...trusted.devices[0]!.line, serial: "x'; DROP TABLE devices; --" }), 'ERR_LINE_FIELD'],
    ['missing board', () => ({ ...trusted.devices[0]!.line, board: undefined }), 'ERR_LINE_FIELD'],
    ['odd hex', () => ({ ...trusted.devices[0]!.line, sealingPublic: 'abc' }), 'ERR_SEALING_PUBLIC_INVALID'],
    ['not an object', () => '[1]', 'ERR_LINE_MALFORMED'],
    ['EK public not a string', () => ({ ...trusted.devices[0]!.line, ekPublic: 7 }), 'ERR_LINE_FIELD'],
    ['EK public over the TPM2B cap', () => ({ ...trusted.devices[0]!.line, ekPublic: '00'.repeat(2000) }), 'ERR_EK_PUBLIC_INVALID'],
  ];
  it.each(cases)('rejects: %s', (_name, make, code) => {
    const input = make();
    const p = parseManifestLine(typeof input === 'string' ? input : JSON.stringify(input));
    const r = isRejection(p) ? p : checkManifestLine(p, trust, NOW);
    expect(isRejection(r) ? r.code : 'accepted').toBe(code);
  });

  it('names the field in each rejection of a line\'s shape', () => {
    const line = trusted.devices[0]!.line;
    const reason = (input: unknown): string => {
      const p = parseManifestLine(typeof input === 'string' ? input : JSON.stringify(input));
      return isRejection(p) ? `${p.code} ${p.reason}` : 'accepted';
    };
    expect(reason('[1]')).toBe('ERR_LINE_MALFORMED line is not a JSON object');
    expect(reason({ ...line, extra: 1 })).toBe('ERR_LINE_FIELD extra: unknown key');
    expect(reason({ ...line, serial: 'a b' })).toBe('ERR_LINE_FIELD serial: expected 1-64 characters of A-Z a-z 0-9 . _ : / -');
    expect(reason({ ...line, sealingPublic: undefined })).toBe('ERR_LINE_FIELD sealingPublic: expected a string');
    expect(reason({ ...line, ekPublic: 'zz' })).toMatch(/^ERR_EK_PUBLIC_INVALID ekPublic: expected hex of 1\.\.\d+ bytes$/);
    expect(reason({ ...line, ekCertificate: '!!' })).toBe('ERR_EK_CERT_MALFORMED ekCertificate: expected DER in base64 or one PEM block, at most 8192 bytes');
  });

  it('reads a signature file through its reader, naming the field', () => {
    const sig = signManifest(new TextEncoder().encode('x\n'), generateEd25519().key, 'acme');
    const refusal = (o: unknown): string => {
      try {
        parseSignatureFile(typeof o === 'string' ? o : JSON.stringify(o));
      } catch (err) {
        return `${(err as { code: string }).code} ${(err as { field?: string }).field ?? '-'} ${(err as Error).message}`;
      }
      return 'accepted';
    };
    expect(parseSignatureFile(JSON.stringify({ ...sig, signature: sig.signature.toUpperCase() }))).toEqual(sig);
    expect(refusal({ ...sig, sha256: sig.sha256.toUpperCase() })).toBe('ERR_PROV_INVALID_ARGUMENT sha256 signature file.sha256: expected lowercase hex of 32 bytes');
    expect(refusal({ ...sig, manufacturer: 'a b' })).toBe('ERR_PROV_INVALID_ARGUMENT manufacturer signature file.manufacturer: expected 1-64 characters of A-Z a-z 0-9 . _ -');
    expect(refusal({ ...sig, lines: -1 })).toMatch(/^ERR_PROV_INVALID_ARGUMENT lines signature file\.lines: expected integer/);
    expect(refusal({ ...sig, extra: 1 })).toBe('ERR_PROV_INVALID_ARGUMENT extra signature file.extra: unknown key');
    expect(refusal('[]')).toBe('ERR_PROV_INVALID_ARGUMENT - signature file: expected object');
    expect(refusal('{')).toBe('ERR_PROV_INVALID_ARGUMENT - signature file is not JSON');
    expect(refusal(' '.repeat(5000))).toBe('ERR_PROV_INVALID_ARGUMENT - signature file is 5000 bytes, at most 4096');
  });

  it('rejects a certificate checked at a time outside its validity (not yet valid, expired)', () => {
    for (const at of [Date.parse('2000-01-01'), Date.parse('9999-12-31T23:59:59Z') + 1000]) {
      const r = checkManifestLine(parsed(trusted.devices[0]!.line), trust, at);
      expect(isRejection(r) ? r.code : 'accepted').toBe('ERR_EK_CERT_NOT_VALID_NOW');
    }
  });
});

describe('DER fast path', () => {
  it('parseCertificate agrees with X509Certificate on a real EK certificate', () => {
    const der = new Uint8Array(Buffer.from(trusted.devices[0]!.line.ekCertificate, 'base64'));
    const x = new X509Certificate(der);
    const c = parseCertificate(der)!;
    expect(c.hash).toBe('sha256');
    expect(c.notBefore).toBe(Date.parse(x.validFrom));
    expect(c.notAfter).toBe(Date.parse(x.validTo));
    expect(Buffer.from(c.spki).equals(x.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(parseCertificate(der.subarray(0, der.length - 1))).toBeNull();
  });

  it('parseCertificate reads UTCTime (RFC 5280 §4.1.2.5.1 century rule) and GeneralizedTime, and refuses other time text', () => {
    const der = new Uint8Array(Buffer.from(trusted.devices[0]!.line.ekCertificate, 'base64'));
    const at = Buffer.from(der).indexOf(Buffer.from([0x17, 0x0d])); // notBefore, a UTCTime
    expect(at).toBeGreaterThan(0);
    const withTime = (text: string, tag = 0x17): Uint8Array => {
      const out = der.slice();
      out[at] = tag;
      out.set(Buffer.from(text, 'latin1'), at + 2);
      return out;
    };
    expect(parseCertificate(withTime('491231235958Z'))!.notBefore).toBe(Date.parse('2049-12-31T23:59:58Z'));
    expect(parseCertificate(withTime('500101000000Z'))!.notBefore).toBe(Date.parse('1950-01-01T00:00:00Z'));
    for (const bad of ['4912312359580', '49123123595aZ', '4912312359 8Z', '491231235958z', '-91231235958Z']) {
      expect(parseCertificate(withTime(bad)), bad).toBeNull();
    }
    // the same 13 bytes under the GeneralizedTime tag are too short for YYYYMMDDHHMMSSZ
    expect(parseCertificate(withTime('491231235958Z', 0x18))).toBeNull();
  });

  it('a certificate with a flipped signature bit is untrusted; the direct SPKI encoding matches OpenSSL', () => {
    const der = Buffer.from(trusted.devices[0]!.line.ekCertificate, 'base64');
    der[der.length - 5] = der[der.length - 5]! ^ 1;
    const r = checkManifestLine(parsed({ ...trusted.devices[0]!.line, ekCertificate: der.toString('base64') }), trust, NOW);
    expect(isRejection(r) ? r.code : 'accepted').toBe('ERR_EK_CERT_UNTRUSTED');
    for (const d of trusted.devices) {
      const ek = parsePublic(new Uint8Array(Buffer.from(d.line.ekPublic, 'hex')));
      expect(Buffer.from(publicKeySpki(ek)).equals(publicKeyObject(ek).export({ type: 'spki', format: 'der' }))).toBe(true);
    }
  });
});

describe('line splitting', () => {
  async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  }
  it('splits across chunk borders, flags long lines without buffering them, caps the line count', async () => {
    const text = new Uint8Array(Buffer.from(`ab\n${'x'.repeat(50)}\ncd\nlast`));
    const out = [];
    for await (const l of splitLines(chunks(text, 7), { maxLineBytes: 20 })) out.push(l);
    expect(out).toEqual([{ line: 1, text: 'ab' }, { line: 2, tooLong: true, bytes: 50 }, { line: 3, text: 'cd' }, { line: 4, text: 'last' }]);
    await expect((async () => { for await (const line of splitLines(chunks(text, 3), { maxLines: 2 })) expect(line.line).toBeLessThanOrEqual(2); })()).rejects.toMatchObject({ code: 'ERR_PROV_BATCH_TOO_LARGE' });
  });
});

describe('ingestBatch into SQLite', () => {
  let store: ProvisioningStore;
  let dir: string;
  const { key } = generateEd25519();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'btn-prov-ingest-'));
    store = await openStore(`sqlite:${join(dir, 'p.db')}`);
    await store.addManufacturer({ name: 'acme', publicKey: key.publicKey, createdAt: NOW });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> { yield b; }
  const sign = (m: Uint8Array, k = key): Uint8Array => new Uint8Array(Buffer.from(signManifest(m, k, 'acme').signature, 'hex'));

  it('a wrong signature rejects the whole batch and stores nothing', async () => {
    const manifest = jsonl([trusted.devices[0]!.line]);
    await expect(ingestBatch({ source: once(manifest), manufacturer: 'acme', signature: sign(manifest, generateEd25519().key), store, trust, now: NOW }))
      .rejects.toMatchObject({ code: 'ERR_PROV_BAD_SIGNATURE' });
    expect(await store.countDevices()).toEqual({ filed: 0, active: 0, revoked: 0 });
  });

  it('files good lines, reports each bad line, re-upload is idempotent', async () => {
    const [a, b] = trusted.devices.map((d) => d.line);
    const manifest = jsonl([a!, untrusted.devices[0]!.line, { ...b!, ekCertificate: a!.ekCertificate }, 'nope', { ...a!, serial: 'DUP' }, b!, 'x'.repeat(20_000)]);
    const report = await ingestBatch({ source: once(manifest), manufacturer: 'acme', signature: sign(manifest), store, trust, now: NOW });
    expect(report.results.map((r) => r.code ?? r.status)).toEqual([
      'filed', 'ERR_EK_CERT_UNTRUSTED', 'ERR_EK_CERT_KEY_MISMATCH', 'ERR_LINE_MALFORMED', 'ERR_DUPLICATE_IN_BATCH', 'filed', 'ERR_LINE_TOO_LONG',
    ]);
    expect(report).toMatchObject({ lines: 7, filed: 2, duplicates: 0, rejected: 5 });
    expect(await store.countDevices()).toEqual({ filed: 2, active: 0, revoked: 0 });
    const again = await ingestBatch({ source: once(manifest), manufacturer: 'acme', signature: sign(manifest), store, trust, now: NOW });
    expect(again).toMatchObject({ batchId: report.batchId, filed: 0, duplicates: 2, rejected: 5 });
    const conflict = jsonl([{ ...a!, serial: 'CHANGED' }]);
    const c = await ingestBatch({ source: once(conflict), manufacturer: 'acme', signature: sign(conflict), store, trust, now: NOW });
    expect(c.results[0]).toMatchObject({ status: 'rejected', code: 'ERR_FILED_WITH_OTHER_DATA' });
    expect((await store.getBatch(report.batchId))).toMatchObject({ lineCount: 7, filed: 2, rejected: 5 });
  });

  it('with the worker-thread verifier the results are the same, line for line', async () => {
    const [a, b] = trusted.devices.map((d) => d.line);
    const forged = Buffer.from(b!.ekCertificate, 'base64');
    forged[forged.length - 5] = forged[forged.length - 5]! ^ 1;
    const lines = [a!, untrusted.devices[0]!.line, { ...b!, ekCertificate: forged.toString('base64') }, { ...b!, ekCertificate: a!.ekCertificate }, b!];
    const manifest = jsonl(lines);
    const dir2 = mkdtempSync(join(tmpdir(), 'btn-prov-pool-'));
    const s2 = await openStore(`sqlite:${join(dir2, 'p.db')}`);
    await s2.addManufacturer({ name: 'acme', publicKey: key.publicKey, createdAt: NOW });
    const pool = new CertVerifyPool(trust.caKeys(), 2);
    try {
      const viaPool = await ingestBatch({ source: once(manifest), manufacturer: 'acme', signature: sign(manifest), store: s2, trust, now: NOW, verifier: pool });
      expect(viaPool.results.map((r) => r.code ?? r.status)).toEqual(['filed', 'ERR_EK_CERT_UNTRUSTED', 'ERR_EK_CERT_UNTRUSTED', 'ERR_EK_CERT_KEY_MISMATCH', 'filed']);
    } finally {
      await pool.close();
      await s2.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it('with the line-check worker pool the report is the same as inline, across chunks and in line order', async () => {
    const [a, b] = trusted.devices.map((d) => d.line);
    const forged = Buffer.from(b!.ekCertificate, 'base64');
    forged[forged.length - 5] = forged[forged.length - 5]! ^ 1;
    const kinds = [
      JSON.stringify(a), 'not json', '', 'x'.repeat(17_000), JSON.stringify({ ...b!, serial: '' }), JSON.stringify(untrusted.devices[0]!.line),
      JSON.stringify({ ...b!, ekCertificate: forged.toString('base64') }), JSON.stringify({ ...b!, ekCertificate: a!.ekCertificate }),
      JSON.stringify({ ...b!, ekPublic: 'zz' }), '\u00ff\u00fe', JSON.stringify(a), JSON.stringify(b),
    ];
    // 700 lines: three chunks and more, each kind of line in each
    const text = Array.from({ length: 700 }, (_, i) => kinds[i % kinds.length]!).join('\n');
    const manifest = new Uint8Array(Buffer.from(`${text}\n`));
    const run = async (checker?: LineCheckPool): Promise<unknown> => {
      const d = mkdtempSync(join(tmpdir(), 'btn-prov-lines-'));
      const s = await openStore(`sqlite:${join(d, 'p.db')}`);
      try {
        await s.addManufacturer({ name: 'acme', publicKey: key.publicKey, createdAt: NOW });
        return await ingestBatch({ source: once(manifest), manufacturer: 'acme', signature: sign(manifest), store: s, trust, now: NOW, ...(checker === undefined ? {} : { checker }) });
      } finally {
        await s.close();
        rmSync(d, { recursive: true, force: true });
      }
    };
    const inline = await run();
    const pool = new LineCheckPool(trust, 2);
    try {
      const viaPool = await run(pool);
      expect(JSON.stringify(viaPool)).toBe(JSON.stringify(inline));
      expect(viaPool).toMatchObject({ lines: 700, filed: 2 });
      expect((viaPool as { results: { code?: string }[] }).results.slice(0, 12).map((r) => r.code ?? 'filed')).toEqual([
        'filed', 'ERR_LINE_MALFORMED', 'ERR_LINE_MALFORMED', 'ERR_LINE_TOO_LONG', 'ERR_LINE_FIELD', 'ERR_EK_CERT_UNTRUSTED',
        'ERR_EK_CERT_UNTRUSTED', 'ERR_EK_CERT_KEY_MISMATCH', 'ERR_EK_PUBLIC_INVALID', 'ERR_LINE_MALFORMED', 'ERR_DUPLICATE_IN_BATCH', 'filed',
      ]);
    } finally {
      await pool.close();
    }
  });

  it("a batch signed with another registered manufacturer's key is refused under this name", async () => {
    const other = generateEd25519().key;
    await store.addManufacturer({ name: 'globex', publicKey: other.publicKey, createdAt: NOW });
    const manifest = jsonl([trusted.devices[0]!.line]);
    const sigByOther = new Uint8Array(Buffer.from(signManifest(manifest, other, 'acme').signature, 'hex'));
    await expect(ingestBatch({ source: once(manifest), manufacturer: 'acme', signature: sigByOther, store, trust, now: NOW }))
      .rejects.toMatchObject({ code: 'ERR_PROV_BAD_SIGNATURE' });
    // acme's signature presented under globex's name fails as well: the name is signed
    await expect(ingestBatch({ source: once(manifest), manufacturer: 'globex', signature: sign(manifest), store, trust, now: NOW }))
      .rejects.toMatchObject({ code: 'ERR_PROV_BAD_SIGNATURE' });
  });

  it('an unknown manufacturer is refused before reading', async () => {
    await expect(ingestBatch({ source: once(jsonl([])), manufacturer: 'nobody', signature: new Uint8Array(64), store, trust, now: NOW }))
      .rejects.toMatchObject({ code: 'ERR_PROV_UNKNOWN_MANUFACTURER' });
  });
});
