// `btn-provision manifest sign|publish` as an operator runs it: real processes, a root key file
// from `keygen`, clerk keys as PEM files, and a registrar on a real SQLite file and a free port
// serving with the same root key. What the command writes verifies with the node's verifyManifest.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../firmware/core/bytes.ts';
import { spkiOf } from '../../firmware/protocol/identity.ts';
import { MAX_VERSION_STEP, verifyManifest } from '../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../firmware/protocol/params.ts';
import { readKeyFile, type Ed25519Key } from '../../provisioning/keys.ts';
import { TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';

const BIN = new URL('../../provisioning/bin/btn-provision.js', import.meta.url).pathname;
const TOKEN = 'operator-token-for-manifest-cli';
let dir: string;
let root: Ed25519Key;
let store: ProvisioningStore;
let server: RunningRegistrar;

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, BTN_ADMIN_TOKEN: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const clerkA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clerkB = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const members = Array.from({ length: 3 }, () => toHex(spkiOf(generateKeyPairSync('ed25519').publicKey).subarray(12)));
const { version: _v, ...params } = DEFAULT_PARAMS;

/** A body file: clerk A as a PEM file beside it, clerk B as SPKI hex. */
function body(name: string, version: number, extra: Record<string, unknown> = {}): string {
  writeFileSync(join(dir, name), JSON.stringify({
    network: 'testnet', version, validFrom: 0, params, primaries: [{ pemFile: 'clerk-a.pem' }, toHex(spkiOf(clerkB))],
    committee: { members, quorum: 2 }, genesis: { hash: '07'.repeat(32), height: 0, timestamp: 1_700_000_000_000 }, ...extra,
  }));
  return name;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'btn-prov-manifest-cli-'));
  expect((await run('keygen', '--out', 'root.key')).code).toBe(0);
  expect((await run('keygen', '--out', 'other.key')).code).toBe(0);
  root = await readKeyFile(join(dir, 'root.key'));
  writeFileSync(join(dir, 'clerk-a.pem'), clerkA.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'clerk-a.key'), clerkA.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  store = await openStore(`sqlite:${join(dir, 'r.db')}`);
  server = await startRegistrar({ store, rootKey: root, trust: TrustStore.fromPem(''), adminToken: TOKEN, verifyWorkers: 0 });
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('btn-provision manifest', () => {
  it('signs a body with the root key; the output verifies as a node verifies it, PEM clerks turned into SPKI hex', async () => {
    const r = await run('manifest', 'sign', '--body', body('v1.json', 1), '--out', 'm1.json', '--root-key', 'root.key');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ out: 'm1.json', network: 'testnet', version: 1, current: null, published: null });
    const terms = verifyManifest(JSON.parse(readFileSync(join(dir, 'm1.json'), 'utf8')), root.publicKey, 'testnet');
    expect(terms.signed.primaries).toEqual([toHex(spkiOf(clerkA.publicKey)), toHex(spkiOf(clerkB))]);
    expect(terms.committee.quorum).toBe(2);
    expect(terms.params).toEqual({ ...params, version: 1 });
  });

  it('refuses a body that cannot follow --current (same or lower version, a jump, another genesis) and writes nothing', async () => {
    const refused = async (file: string): Promise<string> => {
      const r = await run('manifest', 'sign', '--body', file, '--out', 'refused.json', '--root-key', 'root.key', '--current', 'm1.json');
      expect(r.code).toBe(1);
      expect(existsSync(join(dir, 'refused.json'))).toBe(false);
      return r.stderr;
    };
    expect(await refused(body('same.json', 1))).toMatch(/version 1 is not above version 1 .*ERR_PROV_MANIFEST_SUCCESSION/);
    expect(await refused(body('jump.json', 2 + MAX_VERSION_STEP))).toMatch(/jumps more than 1000.*ERR_PROV_MANIFEST_SUCCESSION/);
    expect(await refused(body('genesis.json', 2, { genesis: { hash: '08'.repeat(32), height: 0, timestamp: 1_700_000_000_000 } }))).toMatch(/another genesis.*ERR_PROV_MANIFEST_SUCCESSION/);
    expect(await refused(body('net.json', 2, { network: 'othernet' }))).toMatch(/current manifest \(m1.json\).*network.*ERR_PROV_MANIFEST_SUCCESSION/);
    const ok = await run('manifest', 'sign', '--body', body('v2.json', 2), '--out', 'm2.json', '--root-key', 'root.key', '--current', 'm1.json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ version: 2, current: 1 });
  });

  it('refuses a malformed body, a minority quorum, a private key as a clerk, and a current manifest under another root key', async () => {
    const r1 = await run('manifest', 'sign', '--body', body('bad.json', 1, { params: { ...params, sealZeros: -1 } }), '--out', 'x.json', '--root-key', 'root.key');
    expect(r1.stderr).toMatch(/params\.sealZeros: expected integer.*ERR_PROV_INVALID_ARGUMENT/);
    const r2 = await run('manifest', 'sign', '--body', body('minority.json', 1, { committee: { members, quorum: 1 } }), '--out', 'x.json', '--root-key', 'root.key');
    expect(r2.stderr).toMatch(/committee.quorum: must be a majority.*ERR_PROV_INVALID_ARGUMENT/);
    const r3 = await run('manifest', 'sign', '--body', body('private.json', 1, { primaries: [{ pemFile: 'clerk-a.key' }] }), '--out', 'x.json', '--root-key', 'root.key');
    expect(r3.stderr).toMatch(/private key.*ERR_PROV_INVALID_ARGUMENT/);
    const r4 = await run('manifest', 'sign', '--body', 'v2.json', '--out', 'x.json', '--root-key', 'other.key', '--current', 'm1.json');
    expect(r4.stderr).toMatch(/current manifest \(m1.json\): manifest signature does not verify.*ERR_PROV_BAD_SIGNATURE/);
    expect(existsSync(join(dir, 'x.json'))).toBe(false);
  });

  it('--publish URL fetches the current manifest from the registrar, signs above it and publishes it; publish refuses an older one', async () => {
    const noToken = await run('manifest', 'sign', '--body', 'v1.json', '--out', 'p1.json', '--root-key', 'root.key', '--publish', server.url);
    expect(noToken.code).toBe(2);
    const first = await run('manifest', 'sign', '--body', 'v1.json', '--out', 'p1.json', '--root-key', 'root.key', '--publish', server.url, '--token-file', 'token');
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout)).toMatchObject({ version: 1, current: null, published: { network: 'testnet', version: 1, outcome: 'published' } });
    const second = await run('manifest', 'sign', '--body', 'v2.json', '--out', 'p2.json', '--root-key', 'root.key', '--publish', server.url, '--token-file', 'token');
    expect(JSON.parse(second.stdout)).toMatchObject({ version: 2, current: 1, published: { version: 2, outcome: 'published' } });
    const again = await run('manifest', 'sign', '--body', 'v2.json', '--out', 'p3.json', '--root-key', 'root.key', '--publish', server.url, '--token-file', 'token');
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/version 2 is not above version 2.*ERR_PROV_MANIFEST_SUCCESSION/)]);
    const older = await run('manifest', 'publish', '--manifest', 'm1.json', '--url', server.url, '--token-file', 'token');
    expect(older.code).toBe(1);
    expect(older.stderr).toMatch(/root node refused PUT \/v1\/network\/manifest: manifest version 1 is older than version 2 held \[ERR_PROV_MANIFEST_SUCCESSION\]/);
    expect(JSON.parse((await store.networkManifest())!.manifest)).toEqual(JSON.parse(readFileSync(join(dir, 'p2.json'), 'utf8')));
    const same = await run('manifest', 'publish', '--manifest', 'p2.json', '--url', server.url, '--token-file', 'token');
    expect(JSON.parse(same.stdout)).toEqual({ network: 'testnet', version: 2, outcome: 'unchanged' });
  });
});
