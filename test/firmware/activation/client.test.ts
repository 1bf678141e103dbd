// Root client and activate() against scripted roots over real HTTP: every failure mode maps to
// one typed error with a message naming what is wrong; nothing is stored unless it verified.
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { activate } from '../../../firmware/activation/activate.ts';
import { parseRootUrl, RootClient } from '../../../firmware/activation/client.ts';
import { ActivationError } from '../../../firmware/activation/errors.ts';
import { readActivationState } from '../../../firmware/activation/state.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { certificateFor, json, nodeView, routeHappyPath, softTpm, startFakeRoot, type FakeRoot } from './fake-root.ts';

async function errorOf(p: Promise<unknown>): Promise<ActivationError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ActivationError);
  return err as ActivationError;
}

const rootKey = generateEd25519().key;
let root: FakeRoot;
let dir: string;
let stateN = 0;
const stateDir = (): string => join(dir, `state-${++stateN}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-activation-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await root?.close();
});

describe('RootClient', () => {
  it('parses root URLs strictly', () => {
    expect(parseRootUrl('http://root.example:8080').href).toBe('http://root.example:8080/');
    expect(parseRootUrl('https://x.example/base').href).toBe('https://x.example/base/');
    for (const bad of ['root.example', 'ftp://x', 'http://u:p@x', 'http://x/?a=1']) {
      expect(() => parseRootUrl(bad)).toThrow(ActivationError);
    }
  });

  it('maps the root\'s error answers: not filed, revoked, refused, 5xx', async () => {
    root = await startFakeRoot();
    const c = new RootClient(root.url);
    const answer = (status: number, code: string) => root.route('POST', '/v1/activation/challenge', (_q, _b, res) => json(res, status, { error: { code, message: `says ${code}` } }));
    answer(404, 'ERR_PROV_NOT_FILED');
    let e = await errorOf(c.challenge(new Uint8Array(4), new Uint8Array(4)));
    expect([e.code, e.details.status, e.details.rootCode]).toEqual(['ERR_ACTIVATION_NOT_FILED', 404, 'ERR_PROV_NOT_FILED']);
    answer(403, 'ERR_PROV_REVOKED');
    expect((await errorOf(c.challenge(new Uint8Array(4), new Uint8Array(4)))).code).toBe('ERR_ACTIVATION_REVOKED');
    answer(409, 'ERR_PROV_SEALING_KEY_MISMATCH');
    e = await errorOf(c.challenge(new Uint8Array(4), new Uint8Array(4)));
    expect(e.code).toBe('ERR_ACTIVATION_REFUSED');
    expect(e.message).toMatch(/says ERR_PROV_SEALING_KEY_MISMATCH/);
    answer(503, 'ERR_PROV_CREDENTIAL_UNAVAILABLE');
    e = await errorOf(c.challenge(new Uint8Array(4), new Uint8Array(4)));
    expect(e.code).toBe('ERR_ACTIVATION_UNREACHABLE');
    expect(e.retryable).toBe(true);
  });

  it('refuses malformed, non-JSON and oversized answers', async () => {
    root = await startFakeRoot();
    const c = new RootClient(root.url, { maxResponseBytes: 1024 });
    const cases: Array<[(res: import('node:http').ServerResponse) => void, RegExp]> = [
      [(res) => json(res, 200, { challengeId: 'short', credentialBlob: '00', encryptedSecret: '00', expiresAt: 't' }), /answer\.challengeId: expected lowercase hex/],
      [(res) => json(res, 200, { challengeId: 'a'.repeat(32), credentialBlob: 'XYZ', encryptedSecret: '00' }), /answer\.credentialBlob: expected lowercase hex of 1\.\.1026 bytes/],
      [(res) => json(res, 200, [1, 2]), /answer: expected object/],
      [(res) => { res.writeHead(200); res.end('<html>'); }, /not JSON/],
      [(res) => json(res, 200, { pad: 'x'.repeat(5000) }), /over the 1024-byte cap/],
      // No content-length: the cap applies while streaming.
      [(res) => { res.writeHead(200); res.write('{"a":"'); res.end(`${'x'.repeat(3000)}"}`); }, /over the 1024-byte cap/],
    ];
    for (const [handler, message] of cases) {
      root.route('POST', '/v1/activation/challenge', (_q, _b, res) => handler(res));
      const e = await errorOf(c.challenge(new Uint8Array(4), new Uint8Array(4)));
      expect(e.code).toBe('ERR_ACTIVATION_BAD_RESPONSE');
      expect(e.message).toMatch(message);
    }
  });

  it('a root that accepts connections but never answers fails after the timeout, naming the URL', async () => {
    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const e = await errorOf(new RootClient(url, { timeoutMs: 300 }).revocations());
      expect(e.code).toBe('ERR_ACTIVATION_UNREACHABLE');
      expect(e.message).toContain(`root node at ${url} did not answer GET ${url}/v1/revocations within 300 ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('a closed port is unreachable at once, naming the URL', async () => {
    const e = await errorOf(new RootClient('http://127.0.0.1:9').revocations());
    expect(e.code).toBe('ERR_ACTIVATION_UNREACHABLE');
    expect(e.message).toMatch(/root node at http:\/\/127\.0\.0\.1:9 is unreachable: ECONNREFUSED/);
  });
});

describe('activate() against a scripted root', () => {
  it('stores a verified certificate durably and is idempotent afterwards', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    routeHappyPath(root, rootKey, tpm);
    const sd = stateDir();
    const st = await activate({ rootUrl: root.url, tpm, stateDir: sd, rootPublicKey: rootKey.publicKey });
    expect(st).toMatchObject({ status: 'active', nodeId: tpm.nodeId, rootUrl: `${root.url}/`, revocationVersion: 0 });
    expect(await readActivationState(sd)).toEqual(st);
    expect(await readdir(sd)).toEqual(['activation.json']); // no temp file left
    const before = root.requests.length;
    expect(await activate({ rootUrl: root.url, tpm, stateDir: sd })).toEqual(st);
    expect(root.requests.length).toBe(before); // no network for an active node
    expect(tpm.activations).toBe(1);
  });

  it('refuses a certificate that does not verify with the root key, or is for another node; stores nothing', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    routeHappyPath(root, generateEd25519().key, tpm); // signed by an impostor
    const sd = stateDir();
    let e = await errorOf(activate({ rootUrl: root.url, tpm, stateDir: sd, rootPublicKey: rootKey.publicKey }));
    expect(e.code).toBe('ERR_ACTIVATION_BAD_RESPONSE');
    expect(e.message).toMatch(/does not verify/);
    root.route('POST', '/v1/activation/proof', (_q, _b, res) => json(res, 200, { nodeId: 'e'.repeat(64), status: 'active', certificate: certificateFor(rootKey, tpm.sealing) }));
    e = await errorOf(activate({ rootUrl: root.url, tpm, stateDir: sd, rootPublicKey: rootKey.publicKey }));
    expect(e.message).toMatch(/root says node e{64}/);
    expect(await readActivationState(sd)).toBeNull();
  });

  it('recovers the certificate when the root says the TPM is active already (state lost)', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    root.route('POST', '/v1/activation/challenge', (_q, _b, res) => json(res, 409, { error: { code: 'ERR_PROV_ALREADY_ACTIVE', message: 'active already' } }));
    root.route('GET', `/v1/nodes/${tpm.nodeId}`, (_q, _b, res) => json(res, 200, nodeView(tpm.nodeId, certificateFor(rootKey, tpm.sealing))));
    const st = await activate({ rootUrl: root.url, tpm, stateDir: stateDir(), rootPublicKey: rootKey.publicKey });
    expect(st.status).toBe('active');
    expect(tpm.activations).toBe(0);
  });

  it('a state file for another key, a corrupt state file, and a missing sealing key are clear errors', async () => {
    root = await startFakeRoot();
    const tpm = softTpm();
    const sd = stateDir();
    await import('node:fs/promises').then((fs) => fs.mkdir(sd, { recursive: true }));
    await writeFile(join(sd, 'activation.json'), '{"format":"btn-activation/v1"');
    expect((await errorOf(activate({ rootUrl: root.url, tpm, stateDir: sd }))).message).toMatch(/not a valid activation state \(not JSON\)/);
    await writeFile(join(sd, 'activation.json'), JSON.stringify({ format: 'btn-activation/v1', status: 'active', nodeId: 'f'.repeat(64), certificate: {}, rootUrl: 'x', activatedAt: 'x', revocationVersion: 0 }));
    expect((await errorOf(activate({ rootUrl: root.url, tpm, stateDir: sd }))).message).toMatch(/is for node f{64}, but this TPM's sealing key is node/);
    const noKey = { ...tpm, sealingKey: async () => null };
    const e = await errorOf(activate({ rootUrl: root.url, tpm: noKey, stateDir: stateDir() }));
    expect(e.code).toBe('ERR_ACTIVATION_TPM');
    expect(e.message).toMatch(/no sealing key at 0x81000b70/);
    expect(JSON.parse(await readFile(join(sd, 'activation.json'), 'utf8')).nodeId).toBe('f'.repeat(64)); // untouched
  });
});
