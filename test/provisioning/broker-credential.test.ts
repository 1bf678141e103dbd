// The broker credential in the proof answer opens only in the TPM that passed activation: the
// filed TPM recovers the secret and derives exactly the password the root gave the broker; another
// TPM's ActivateCredential on the same blob fails, in the binding and in tpm2-tools. Real parts:
// two swtpms, the registrar on SQLite; the broker's accounts are recorded (the mosquitto side is
// test/firmware/node/broker-identity.test.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvisionedRoot, type ProvisionedRoot } from '../../firmware/devnet/provisioned-root.ts';
import { brokerPassword } from '../../firmware/protocol/broker-credential.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import type { Tpm } from '../../tpm/index.ts';
import { toTpm2bPublic } from '../../tpm/public-area.ts';
import type { SwtpmInstance } from '../../tpm/swtpm.ts';
import { startSealingTpms, type SealingTpms } from '../sealing-tpms.ts';
import { toolsActivate } from './credential-tools.ts';

let dir: string;
let tpms: Tpm[] = [];
let swtpms: SwtpmInstance[] = [];
let devices: SealingTpms | undefined;
let root: ProvisionedRoot;
const accounts = new Map<string, string>();
const disabled: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-broker-credential-'));
  devices = await startSealingTpms(dir, 2); // the filed one and another
  ({ tpms, swtpms } = devices);
  root = await startProvisionedRoot({
    dir: join(dir, 'root'), trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }),
    broker: { upsert: async (nodeId, password) => void accounts.set(nodeId, password), disable: async (nodeId) => void disabled.push(nodeId) },
  });
}, 60_000);

afterAll(async () => {
  await root?.close();
  await devices?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('broker credential', () => {
  it('only the activated TPM recovers it, and it gives the password the broker got; revocation disables the account', { timeout: 60_000 }, async () => {
    const [filed, other] = tpms as [Tpm, Tpm];
    await root.enroll(filed, 'SN-BC-1');
    expect(await root.uploadBatch()).toMatchObject({ filed: 1 });
    const client = new RegistrarClient(root.url);
    const key = (await filed.sealingKey())!;
    const challenge = await client.challenge(toTpm2bPublic((await filed.ekPublic()).bytes), toTpm2bPublic(key.public.bytes));
    const secret = await filed.activateCredential({ credentialBlob: challenge.credentialBlob, secret: challenge.encryptedSecret });
    const proof = await client.proof(challenge.challengeId, secret);
    const offer = proof.broker!;
    expect(offer.username).toBe(proof.nodeId);
    expect(accounts.get(proof.nodeId)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Another TPM (same CA, same kind of keys) cannot open it.
    await other.ensureSealingKey();
    await expect(other.activateCredential({ credentialBlob: offer.credentialBlob, secret: offer.encryptedSecret })).rejects.toThrow();
    const released = await filed.activateCredential({ credentialBlob: offer.credentialBlob, secret: offer.encryptedSecret });
    expect(brokerPassword(released, proof.nodeId)).toBe(accounts.get(proof.nodeId));
    // Cross-checked with tpm2-tools (an implementation no one here wrote): the filed TPM's
    // tpm2_activatecredential opens the same secret; on the other TPM it fails.
    const [filedSwtpm, otherSwtpm] = swtpms as [SwtpmInstance, SwtpmInstance];
    expect(Buffer.from(await toolsActivate(filedSwtpm.tcti, dir, offer, 'broker-filed')).toString('hex')).toBe(Buffer.from(released).toString('hex'));
    await expect(toolsActivate(otherSwtpm.tcti, dir, offer, 'broker-other')).rejects.toThrow(/tpm2_activatecredential/);
    await root.revoke(proof.nodeId, 'lost');
    expect(disabled).toEqual([proof.nodeId]);
  });
});
