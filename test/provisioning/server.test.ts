// The registrar over real HTTP on a free port, a real SQLite file and real swtpm devices:
// batches with each kind of bad line, signatures, caps, lookups, revocation, metrics, and
// activation (challenge -> ActivateCredential in the TPM -> proof) with MakeCredential from
// tpm2-tools, an independent implementation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { verifyRegistrationCertificate, verifyRevocationList } from '../../provisioning/registration/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { ObjectAttr } from '../../tpm/constants.ts';
import { SEALING_KEY_ATTRIBUTES } from '../../tpm/templates.ts';
import { jsonl, startDevices, withAttributes, type DeviceLab } from './devices.ts';
import { tpm2ToolsMakeCredential } from './tpm2-tools-credential.ts';
import type { BatchLineResult, ErrorBody } from '../../firmware/protocol/registrar-api/index.ts';

const TOKEN = 'operator-token-for-tests';
let lab: DeviceLab;
let stranger: DeviceLab;
let store: ProvisioningStore;
let server: RunningRegistrar;
let dir: string;
let root: Ed25519Key;
let maker: Ed25519Key;

beforeAll(async () => {
  // One after another: two swtpm starts at once in one process can pick the same free port.
  lab = await startDevices(3, { keepOpen: true });
  stranger = await startDevices(1, { serialPrefix: 'X', keepOpen: true });
  dir = mkdtempSync(join(tmpdir(), 'btn-prov-http-'));
  store = await openStore(`sqlite:${join(dir, 'p.db')}`);
  root = generateEd25519().key;
  maker = generateEd25519().key;
  await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
  server = await startRegistrar({
    store, rootKey: root, trust: await TrustStore.fromDirectory(lab.caDir), adminToken: TOKEN,
    makeCredential: tpm2ToolsMakeCredential, maxBatchBytes: 1024 * 1024,
  });
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  await lab?.destroy();
  await stranger?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * An answer of the registrar as these tests read it: the fields of the documented bodies
 * (firmware/protocol/registrar-api/types.ts) side by side; a refusal carries only `error`.
 * The requests here are raw on purpose (malformed bodies, wrong headers), so not the client.
 */
interface Reply {
  readonly error: ErrorBody['error'];
  readonly status: string;
  readonly state: string;
  readonly outcome: string;
  readonly nodeId: string;
  readonly batchId: string;
  readonly challengeId: string;
  readonly credentialBlob: string;
  readonly encryptedSecret: string;
  readonly certificate: Record<string, unknown>;
  readonly activatedAt: string | null;
  readonly results: readonly BatchLineResult[];
}

async function call<T = Reply>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body instanceof Uint8Array) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(server.url + path, init);
  const text = await res.text();
  return { status: res.status, json: (text.startsWith('{') ? JSON.parse(text) : text) as T };
}

function upload(manifest: Uint8Array, key: Ed25519Key = maker, manufacturer = 'acme'): Promise<{ status: number; json: Reply }> {
  const sig = signManifest(manifest, key, manufacturer);
  return call('POST', '/v1/batches', manifest, { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': manufacturer, 'x-btn-signature': sig.signature });
}

const line = (i: number) => lab.devices[i]!.line;

describe('registrar HTTP API', () => {
  it('health answers 200', async () => {
    expect(await call('GET', '/v1/health')).toEqual({ status: 200, json: { status: 'ok', store: 'sqlite' } });
  });

  it('a batch signed with another key is rejected whole and stores nothing', async () => {
    const r = await upload(jsonl([line(0), line(1)]), generateEd25519().key);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('ERR_PROV_BAD_SIGNATURE');
    expect(await store.countDevices()).toEqual({ filed: 0, active: 0, revoked: 0 });
  });

  it('refuses unknown manufacturers, bad headers, wrong media type, oversize bodies', async () => {
    expect((await upload(jsonl([line(0)]), maker, 'nobody')).json.error.code).toBe('ERR_PROV_UNKNOWN_MANUFACTURER');
    const m = jsonl([line(0)]);
    let r = await call('POST', '/v1/batches', m, { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': "acme' OR 1=1", 'x-btn-signature': '00'.repeat(64) });
    expect([r.status, r.json.error.field]).toEqual([400, 'x-btn-manufacturer']);
    r = await call('POST', '/v1/batches', m, { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme' });
    expect([r.status, r.json.error.field]).toEqual([400, 'x-btn-signature']);
    r = await call('POST', '/v1/batches', m, { 'content-type': 'application/json', 'x-btn-manufacturer': 'acme', 'x-btn-signature': '00'.repeat(64) });
    expect(r.status).toBe(415);
    r = await upload(new Uint8Array(2 * 1024 * 1024).fill(0x61));
    expect([r.status, r.json.error.code]).toEqual([413, 'ERR_PROV_BATCH_TOO_LARGE']);
    r = await call('POST', '/v1/activation/challenge', { ekPublic: 'ab'.repeat(40_000), sealingPublic: '' });
    expect([r.status, r.json.error.code]).toEqual([413, 'ERR_PROV_BODY_TOO_LARGE']);
    expect((await store.countDevices()).filed).toBe(0);
  });

  it('a batch of more than 100,000 lines is refused whole (413) and stores nothing', async () => {
    const r = await upload(new Uint8Array(Buffer.from('{}\n'.repeat(100_001))));
    expect([r.status, r.json.error.code]).toEqual([413, 'ERR_PROV_BATCH_TOO_LARGE']);
    expect(await store.countDevices()).toEqual({ filed: 0, active: 0, revoked: 0 });
  });

  let report: Reply;
  it('files good lines and names the reason for each bad line', async () => {
    const bad = [
      stranger.devices[0]!.line, // EK certificate from an untrusted CA
      { ...line(2), ekCertificate: line(1).ekCertificate }, // certificate for another EK
      { ...line(2), sealingPublic: withAttributes(line(2).sealingPublic, SEALING_KEY_ATTRIBUTES & ~ObjectAttr.fixedTPM) },
      '{"serial":',
      { ...line(2), serial: 'Z'.repeat(20_000) },
    ];
    const r = await upload(jsonl([line(0), ...bad, line(1), line(2)]));
    expect(r.status).toBe(200);
    report = r.json;
    expect(report.results.map((x) => x.code ?? x.status)).toEqual([
      'filed', 'ERR_EK_CERT_UNTRUSTED', 'ERR_EK_CERT_KEY_MISMATCH', 'ERR_SEALING_ATTRIBUTES', 'ERR_LINE_MALFORMED', 'ERR_LINE_TOO_LONG', 'filed', 'filed',
    ]);
    expect(report).toMatchObject({ lines: 8, filed: 3, duplicates: 0, rejected: 5, manufacturer: 'acme' });
    expect(report.results[3]!.reason).toMatch(/fixedTPM/);
    const again = await upload(jsonl([line(0), ...bad, line(1), line(2)]));
    expect(again.json).toMatchObject({ batchId: report.batchId, filed: 0, duplicates: 3 });
  });

  it('looks nodes up; bad ids (and bad percent-encodings) are 400, unknown ids 404', async () => {
    const list = await store.listDevices({ limit: 10 });
    expect(list).toHaveLength(3);
    const n = await call('GET', `/v1/nodes/${list[0]!.nodeId}`);
    expect(n.json).toMatchObject({ nodeId: list[0]!.nodeId, state: 'filed', manufacturer: 'acme', certificate: null });
    expect((await call('GET', `/v1/nodes/${encodeURIComponent("1' OR '1'='1")}`)).status).toBe(400);
    // A malformed percent-encoding is the client's error, not a 500.
    const badEncoding = await call('GET', '/v1/nodes/%E0%A4%A');
    expect([badEncoding.status, badEncoding.json.error.code]).toEqual([400, 'ERR_PROV_INVALID_ARGUMENT']);
    expect((await call('GET', `/v1/nodes/${'0'.repeat(64)}`)).json.error.code).toBe('ERR_PROV_NOT_FOUND');
    expect((await call('GET', '/v1/nope')).status).toBe(404);
  });

  it('activation: unfiled EK 404, other sealing key 409, wrong proof 400, then challenge -> TPM -> proof -> active, replay 409', async () => {
    const d = lab.devices[0]!;
    const s = stranger.devices[0]!.line;
    let r = await call('POST', '/v1/activation/challenge', { ekPublic: s.ekPublic, sealingPublic: s.sealingPublic });
    expect([r.status, r.json.error.code]).toEqual([404, 'ERR_PROV_NOT_FILED']);
    r = await call('POST', '/v1/activation/challenge', { ekPublic: d.line.ekPublic, sealingPublic: line(1).sealingPublic });
    expect([r.status, r.json.error.code]).toEqual([409, 'ERR_PROV_SEALING_KEY_MISMATCH']);
    r = await call('POST', '/v1/activation/challenge', { ekPublic: d.line.ekPublic, sealingPublic: d.line.sealingPublic, extra: 1 });
    expect([r.status, r.json.error.field]).toEqual([400, 'extra']);

    const ch = await call('POST', '/v1/activation/challenge', { ekPublic: d.line.ekPublic, sealingPublic: d.line.sealingPublic });
    expect(ch.status).toBe(200);
    expect(ch.json.challengeId).toMatch(/^[0-9a-f]{32}$/);
    const wrong = await call('POST', '/v1/activation/proof', { challengeId: ch.json.challengeId, secret: '00'.repeat(32) });
    expect([wrong.status, wrong.json.error.code]).toEqual([400, 'ERR_PROV_BAD_PROOF']);

    const secret = await d.tpm!.activateCredential({
      credentialBlob: new Uint8Array(Buffer.from(ch.json.credentialBlob, 'hex')),
      secret: new Uint8Array(Buffer.from(ch.json.encryptedSecret, 'hex')),
    });
    const proof = await call('POST', '/v1/activation/proof', { challengeId: ch.json.challengeId, secret: Buffer.from(secret).toString('hex') });
    expect(proof.status).toBe(200);
    expect(proof.json.status).toBe('active');
    const cert = verifyRegistrationCertificate(proof.json.certificate, root.publicKey, Date.now());
    expect(cert.nodeId).toBe(proof.json.nodeId);
    expect(cert.board).toBe('rpi4');
    expect(() => verifyRegistrationCertificate({ ...proof.json.certificate, board: 'x' }, root.publicKey)).toThrow(/signature/);
    expect(() => verifyRegistrationCertificate(proof.json.certificate, generateEd25519().key.publicKey)).toThrow(/signature/);

    const replay = await call('POST', '/v1/activation/proof', { challengeId: ch.json.challengeId, secret: Buffer.from(secret).toString('hex') });
    expect([replay.status, replay.json.error.code]).toEqual([409, 'ERR_PROV_CHALLENGE_USED']);
    const node = await call('GET', `/v1/nodes/${proof.json.nodeId}`);
    expect(node.json.state).toBe('active');
    expect(node.json.certificate).toEqual(proof.json.certificate);
    // Re-activation (a device that lost its state, or renews): the same proof of possession,
    // a fresh certificate; the first activation time stays.
    const again = await call('POST', '/v1/activation/challenge', { ekPublic: d.line.ekPublic, sealingPublic: d.line.sealingPublic });
    expect(again.status).toBe(200);
    const secret2 = await d.tpm!.activateCredential({
      credentialBlob: new Uint8Array(Buffer.from(again.json.credentialBlob, 'hex')),
      secret: new Uint8Array(Buffer.from(again.json.encryptedSecret, 'hex')),
    });
    const renewed = await call('POST', '/v1/activation/proof', { challengeId: again.json.challengeId, secret: Buffer.from(secret2).toString('hex') });
    expect([renewed.status, renewed.json.nodeId]).toEqual([200, proof.json.nodeId]);
    expect(verifyRegistrationCertificate(renewed.json.certificate, root.publicKey, Date.now()).nodeId).toBe(proof.json.nodeId);
    const after = await call('GET', `/v1/nodes/${proof.json.nodeId}`);
    expect([after.json.certificate, after.json.activatedAt]).toEqual([renewed.json.certificate, node.json.activatedAt]);
  });

  it('a credential made for TPM A cannot be answered by TPM B', async () => {
    const a = lab.devices[1]!;
    const ch = await call('POST', '/v1/activation/challenge', { ekPublic: a.line.ekPublic, sealingPublic: a.line.sealingPublic });
    await expect(lab.devices[2]!.tpm!.activateCredential({
      credentialBlob: new Uint8Array(Buffer.from(ch.json.credentialBlob, 'hex')),
      secret: new Uint8Array(Buffer.from(ch.json.encryptedSecret, 'hex')),
    })).rejects.toThrow();
    expect((await store.getDevice((await store.listDevices({ limit: 10 })).find((x) => x.serial === 'SN-1')!.ekName))?.state).toBe('filed');
  });

  it('two concurrent activations of one TPM over HTTP: exactly one succeeds, the other is superseded (a challenge answers for the state it was issued in)', async () => {
    const d = lab.devices[2]!;
    const body = { ekPublic: d.line.ekPublic, sealingPublic: d.line.sealingPublic };
    const chs = [await call('POST', '/v1/activation/challenge', body), await call('POST', '/v1/activation/challenge', body)];
    const secrets: string[] = [];
    for (const ch of chs) {
      const s = await d.tpm!.activateCredential({
        credentialBlob: new Uint8Array(Buffer.from(ch.json.credentialBlob, 'hex')),
        secret: new Uint8Array(Buffer.from(ch.json.encryptedSecret, 'hex')),
      });
      secrets.push(Buffer.from(s).toString('hex'));
    }
    const proofs = await Promise.all(chs.map((ch, i) => call('POST', '/v1/activation/proof', { challengeId: ch.json.challengeId, secret: secrets[i] })));
    expect(proofs.map((p) => p.status).sort((a, b) => a - b)).toEqual([200, 409]);
    const loser = proofs.findIndex((p) => p.status === 409);
    expect(proofs[loser]!.json.error.code).toBe('ERR_PROV_SUPERSEDED');
    // The winner's challenge is used; the loser's stays unused but can never complete now.
    const replays = await Promise.all(chs.map((ch, i) => call('POST', '/v1/activation/proof', { challengeId: ch.json.challengeId, secret: secrets[i] })));
    expect(replays.map((p) => p.json.error.code)).toEqual(chs.map((_, i) => (i === loser ? 'ERR_PROV_SUPERSEDED' : 'ERR_PROV_CHALLENGE_USED')));
  });

  it('a second instance on the same store with the project MakeCredential: challenge there, proof here', async () => {
    const other = await startRegistrar({ store, rootKey: root, trust: await TrustStore.fromDirectory(lab.caDir) });
    try {
      const d = lab.devices[1]!;
      const res = await fetch(`${other.url}/v1/activation/challenge`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ekPublic: d.line.ekPublic, sealingPublic: d.line.sealingPublic }),
      });
      const ch = (await res.json()) as { challengeId: string; credentialBlob: string; encryptedSecret: string };
      expect(res.status).toBe(200);
      const secret = await d.tpm!.activateCredential({
        credentialBlob: new Uint8Array(Buffer.from(ch.credentialBlob, 'hex')),
        secret: new Uint8Array(Buffer.from(ch.encryptedSecret, 'hex')),
      });
      const proof = await call('POST', '/v1/activation/proof', { challengeId: ch.challengeId, secret: Buffer.from(secret).toString('hex') });
      expect([proof.status, proof.json.status]).toEqual([200, 'active']);
      verifyRegistrationCertificate(proof.json.certificate, root.publicKey, Date.now());
    } finally {
      await other.close();
    }
  });

  it('revocation needs the operator token, is versioned and signed, and a revoked TPM cannot activate', async () => {
    const dev = (await store.listDevices({ limit: 10 })).find((x) => x.serial === 'SN-2')!;
    expect((await call('POST', `/v1/nodes/${dev.nodeId}/revoke`)).status).toBe(401);
    expect((await call('POST', `/v1/nodes/${dev.nodeId}/revoke`, undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
    const first = (await call('GET', '/v1/revocations')).json;
    const before = verifyRevocationList(first, root.publicKey);
    expect(before.version).toBe(0);
    const evil = "stolen'); DROP TABLE devices; --";
    const r = await call('POST', `/v1/nodes/${dev.nodeId}/revoke`, { reason: evil }, { authorization: `Bearer ${TOKEN}` });
    expect(r.json).toEqual({ nodeId: dev.nodeId, state: 'revoked', outcome: 'revoked', revocationVersion: 1 });
    const twice = await call('POST', `/v1/nodes/${dev.nodeId}/revoke`, undefined, { authorization: `Bearer ${TOKEN}` });
    expect(twice.json.outcome).toBe('already-revoked');
    const list = (await call('GET', '/v1/revocations')).json;
    const v = verifyRevocationList(list, root.publicKey, before.version);
    expect(v.version).toBe(1);
    expect(v.revoked.has(dev.nodeId)).toBe(true);
    expect(v.entries[0]!.reason).toBe(evil);
    expect(() => verifyRevocationList({ ...list, entries: [] }, root.publicKey)).toThrow(/signature/);
    expect(() => verifyRevocationList(first, root.publicKey, 1)).toThrow(/older/);
    expect(() => verifyRevocationList({ ...list, extra: 1 }, root.publicKey)).toThrow(/revocation list.extra: unknown key/);
    const d2 = lab.devices[2]!.line;
    const ch = await call('POST', '/v1/activation/challenge', { ekPublic: d2.ekPublic, sealingPublic: d2.sealingPublic });
    expect([ch.status, ch.json.error.code]).toEqual([403, 'ERR_PROV_REVOKED']);
  });

  it('metrics are Prometheus text with devices by state, activations and rejections', async () => {
    const r = await call<string>('GET', '/metrics');
    expect(r.status).toBe(200);
    const text = r.json;
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$/;
    for (const l of text.trimEnd().split('\n')) {
      if (!l.startsWith('#')) expect(l).toMatch(sample);
    }
    expect(text).toContain('btn_prov_devices{state="active"} 2');  // SN-0, SN-1 active; SN-2 active then revoked
    expect(text).toContain('btn_prov_devices{state="revoked"} 1');
    expect(text).toContain('btn_prov_activations_total 3');
    expect(text).toContain('btn_prov_reactivations_total 1'); // SN-0 renewed once (of SN-2's two concurrent proofs one was superseded)
    expect(text).toContain('btn_prov_batch_line_rejections_total{reason="ERR_EK_CERT_UNTRUSTED"} 2');
    expect(text).toContain('btn_prov_rejections_total{reason="ERR_PROV_BAD_SIGNATURE"} 1');
    expect(text).toMatch(/btn_prov_http_request_duration_seconds_count\{route="proof"\} \d+/);
  });
});
