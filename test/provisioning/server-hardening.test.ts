// The registrar against clients that misbehave: a bearer scheme in another case, a JSON body that
// trickles in, a batch with a wrong signature (refused before any certificate is looked at), and
// one manufacturer starting more uploads than its share. Real parts: swtpm EK certificates under
// a test CA, SQLite, the registrar over HTTP.
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { startDevices, type DeviceLab } from './devices.ts';
import { manifestBytes, syntheticLines } from './synthetic.ts';
import { until } from '../until.ts';

const TOKEN = 'operator-token-0123456789';
let lab: DeviceLab;
let dir: string;
let spool: string;
let store: ProvisioningStore;
let server: RunningRegistrar;
let maker: Ed25519Key;
let certificateChecks = 0;

beforeAll(async () => {
  lab = await startDevices(1);
  dir = mkdtempSync(join(tmpdir(), 'btn-prov-hard-'));
  spool = join(dir, 'spool');
  mkdirSync(spool);
  store = await openStore(`sqlite:${join(dir, 'p.db')}`);
  maker = generateEd25519().key;
  await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
  // The real trust store, counted: how many EK certificates the registrar checked.
  const trust = await TrustStore.fromDirectory(lab.caDir);
  const verifyInline = trust.verifyInline.bind(trust);
  trust.verifyInline = (c, candidates) => {
    certificateChecks++;
    return verifyInline(c, candidates);
  };
  server = await startRegistrar({
    store, rootKey: generateEd25519().key, trust, adminToken: TOKEN, verifyWorkers: 0,
    jsonBodyDeadlineMs: 300, maxUploadsPerManufacturer: 1, spoolDir: spool,
  });
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const lines = (n: number, prefix: string): Uint8Array => manifestBytes(syntheticLines(lab.devices[0]!.line, n, { prefix }));
const headers = (body: Uint8Array, key: Ed25519Key): Record<string, string> => ({
  'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(body, key, 'acme').signature,
});

describe('registrar hardening', () => {
  it('takes the bearer scheme in any case, and still refuses a wrong token', async () => {
    const id = 'ab'.repeat(32);
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const r = await fetch(`${server.url}/v1/nodes/${id}/revoke`, { method: 'POST', headers: { authorization: `${scheme} ${TOKEN}` } });
      expect([scheme, r.status]).toEqual([scheme, 404]); // authorized: the node is just unknown
    }
    expect((await fetch(`${server.url}/v1/nodes/${id}/revoke`, { method: 'POST', headers: { authorization: `bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await fetch(`${server.url}/v1/nodes/${id}/revoke`, { method: 'POST', headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401);
  });

  it('answers 408 and closes the connection when a JSON body does not arrive in time', async () => {
    const answer = await new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
      const req = request(`${server.url}/v1/activation/challenge`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.write('{"ekPublic":"'); // and then nothing more
    });
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body).error).toEqual({ code: 'ERR_PROV_BODY_TIMEOUT', message: 'the request body did not arrive within 0.3 s' });
    expect(answer.connection).toBe('close');
  });

  it('refuses a wrongly signed batch before checking any EK certificate, and leaves no spool file', async () => {
    const body = lines(200, 'BADSIG');
    certificateChecks = 0;
    const bad = await fetch(`${server.url}/v1/batches`, { method: 'POST', body, headers: headers(body, generateEd25519().key) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('ERR_PROV_BAD_SIGNATURE');
    expect(certificateChecks).toBe(0);
    expect(readdirSync(spool)).toEqual([]);
    expect((await store.countDevices()).filed).toBe(0);
    // The same lines signed by the manufacturer: every certificate checked, every line filed.
    const good = await fetch(`${server.url}/v1/batches`, { method: 'POST', body, headers: headers(body, maker) });
    expect(good.status).toBe(200);
    expect(certificateChecks).toBeGreaterThan(0);
    expect((await store.countDevices()).filed).toBe(200);
    expect(readdirSync(spool)).toEqual([]);
  });

  it('lets one manufacturer run its share of uploads at once; one more gets 429 with Retry-After', async () => {
    const body = lines(5, 'SLOT');
    const h = headers(body, maker);
    // A first upload that sends half its body and waits.
    let finish!: () => void;
    const first = new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/v1/batches`, { method: 'POST', headers: { ...h, 'content-length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.write(body.subarray(0, 10));
      finish = () => req.end(body.subarray(10));
    });
    await until('the first upload holds its slot (spooling)', () => readdirSync(spool).length === 1, 10_000);
    const second = await fetch(`${server.url}/v1/batches`, { method: 'POST', body, headers: h });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('30');
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('ERR_PROV_RATE_LIMITED');
    finish();
    expect(await first).toBe(200);
    // The slot is free again.
    expect((await fetch(`${server.url}/v1/batches`, { method: 'POST', body, headers: h })).status).toBe(200);
  });
});
