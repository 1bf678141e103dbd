// A TPM with only an ECC EK certificate (swtpm with its RSA EK certificate removed: the P-384 EK at
// 0x81010016, its certificate at NV 0x01C00016) is filed by the factory under that EK and activates
// with the root node: MakeCredential by ECDH, ActivateCredential with the ECC EK's empty auth;
// and the binding opens a credential tpm2_makecredential made for that EK.
// Real parts: swtpm, the binding, the factory, the registrar over HTTP on SQLite.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { enrollDevice } from '../../provisioning/factory/index.ts';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { openTpm, type Tpm } from '../../tpm/index.ts';
import { parsePublic } from '../../tpm/public-area.ts';
import { startSwtpm, type SwtpmInstance } from '../../tpm/swtpm.ts';
import { tpm2 } from '../tpm/helpers.ts';
import { tpm2ToolsMakeCredential } from './tpm2-tools-credential.ts';

describe('a TPM with only an ECC EK certificate', () => {
  let dir: string;
  let swtpm: SwtpmInstance;
  let tpm: Tpm;
  let store: ProvisioningStore;
  let server: RunningRegistrar;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-ecc-ek-'));
    swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
    // Platform hierarchy, empty auth on swtpm: as a TPM shipped with an ECC EK certificate only.
    await tpm2('tpm2_nvundefine', ['-T', swtpm.tcti, '-C', 'p', '0x01c00002']);
    tpm = await openTpm({ tcti: swtpm.tcti });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await tpm?.close();
    await swtpm?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('is filed under its ECC EK and activates', async () => {
    expect(await tpm.endorsementKind()).toEqual({ kind: 'ecc', certificateIndex: 0x01c00016 });
    const batch = join(dir, 'batch.jsonl');
    expect((await enrollDevice({ tpm, batchPath: batch, serial: 'ECC-1', board: 'rpi4' })).status).toBe('added');
    const bytes = new Uint8Array(await readFile(batch));
    const line = JSON.parse(Buffer.from(bytes).toString('utf8').trim()) as { ekPublic: string; sealingPublic: string };
    expect(parsePublic(fromHex(line.ekPublic)).ecc?.curveId).toBe(0x0004);

    store = await openStore(`sqlite:${join(dir, 'p.db')}`);
    const maker = generateEd25519().key;
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    server = await startRegistrar({ store, rootKey: generateEd25519().key, trust: await TrustStore.fromDirectory(join(dir, 'ca')) });
    const up = await fetch(`${server.url}/v1/batches`, {
      method: 'POST', body: bytes,
      headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(bytes, maker, 'acme').signature },
    });
    const report = (await up.json()) as { filed: number; results: unknown[] };
    expect(report.filed, JSON.stringify(report.results)).toBe(1);

    const client = new RegistrarClient(server.url);
    const challenge = await client.challenge(fromHex(line.ekPublic), fromHex(line.sealingPublic));
    const secret = await tpm.activateCredential({ credentialBlob: challenge.credentialBlob, secret: challenge.encryptedSecret });
    expect((await client.proof(challenge.challengeId, secret)).status).toBe('active');
  });

  it('the binding opens what tpm2_makecredential made for the ECC EK (the second tpm2-tools cross-check)', async () => {
    const ek = await tpm.ekPublic();
    const name = fromHex((await tpm.ensureSealingKey()).name);
    const secret = new Uint8Array(randomBytes(32));
    const theirs = tpm2ToolsMakeCredential({ ekPublic: ek, name, secret });
    expect(toHex(await tpm.activateCredential({ credentialBlob: theirs.credentialBlob, secret: theirs.encryptedSecret }))).toBe(toHex(secret));
    const other = name.slice();
    other[7]! ^= 1;
    const wrong = tpm2ToolsMakeCredential({ ekPublic: ek, name: other, secret });
    await expect(tpm.activateCredential({ credentialBlob: wrong.credentialBlob, secret: wrong.encryptedSecret })).rejects.toThrow();
  });
});
