// Re-activation rotates a node's broker identity (real parts: swtpms, the registrar on SQLite and
// on PostgreSQL at BTN_PG_URL, a TLS mosquitto 2 with dynamic security): the same proof of
// possession gives a fresh certificate and a fresh secret only that TPM opens; the old password
// is refused by the broker at once. Another TPM cannot re-activate someone else's node; a revoked
// node cannot, and a revocation racing a re-activation always leaves the account disabled.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvisionedRoot, type ProvisionedRoot } from '../../firmware/devnet/provisioned-root.ts';
import { startSecureMosquitto, type SecureMosquitto } from '../../firmware/devnet/secure-mosquitto.ts';
import { brokerPassword } from '../../firmware/protocol/broker-credential.ts';
import { RegistrarClient, type Proof } from '../../firmware/protocol/registrar-api/index.ts';
import { BrokerAdmin, brokerAccounts } from '../../provisioning/broker/dynsec.ts';
import type { Tpm } from '../../tpm/index.ts';
import { toTpm2bPublic } from '../../tpm/public-area.ts';
import { freePort } from '../net.ts';
import { startSealingTpms, type SealingTpms } from '../sealing-tpms.ts';
import { until } from '../until.ts';

const PG_URL = process.env['BTN_PG_URL'];
if (PG_URL === undefined && process.env['CI']) throw new Error('broker re-activation: CI is set but BTN_PG_URL is not');
const stores: { name: string; store?: { url: string; schema: string } }[] = [{ name: 'sqlite' }];
if (PG_URL !== undefined) stores.push({ name: 'postgres', store: { url: PG_URL, schema: `btn_react_${process.pid}_${randomBytes(4).toString('hex')}` } });

let dir: string;
let broker: SecureMosquitto;
let admin: BrokerAdmin;
let tpms: Tpm[] = [];
let devices: SealingTpms | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-broker-reactivation-'));
  broker = await startSecureMosquitto({ dir: join(dir, 'broker'), port: await freePort() });
  admin = await BrokerAdmin.connect({ url: broker.url, ...broker.admin, ca: broker.caPem });
  // One TPM per node and store (a TPM activates on one registrar), plus a stranger.
  devices = await startSealingTpms(dir, 2 * stores.length + 1);
  tpms = devices.tpms;
}, 90_000);

afterAll(async () => {
  await devices?.close();
  await admin?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** 'connected' or the broker's refusal. */
async function tryConnect(username: string, password: string): Promise<string> {
  return mqtt.connectAsync(broker.url, { username, password, ca: broker.caPem, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000 })
    .then(async (c) => { await c.endAsync(); return 'connected'; }, (e: Error) => e.message);
}

/** The device's side: challenge, ActivateCredential, proof; the broker password its TPM releases. */
async function proofOf(client: RegistrarClient, tpm: Tpm): Promise<Proof> {
  const key = (await tpm.sealingKey())!;
  const ch = await client.challenge(toTpm2bPublic((await tpm.ekPublic()).bytes), toTpm2bPublic(key.public.bytes));
  const secret = await tpm.activateCredential({ credentialBlob: ch.credentialBlob, secret: ch.encryptedSecret });
  return client.proof(ch.challengeId, secret);
}

async function passwordOf(tpm: Tpm, proof: Proof): Promise<string> {
  const offer = proof.broker!;
  const secret = await tpm.activateCredential({ credentialBlob: offer.credentialBlob, secret: offer.encryptedSecret });
  return brokerPassword(secret, proof.nodeId);
}

const refusedRe = /Not authorized|Bad User Name or Password/i;

describe.each(stores)('re-activation on a real broker ($name store)', ({ name, store }) => {
  let root: ProvisionedRoot;
  let client: RegistrarClient;
  const index = stores.findIndex((s) => s.name === name);
  const prefix = `btn/react-${name}-${process.pid}`;

  beforeAll(async () => {
    const [n, v] = [tpms[2 * index + 1]!, tpms[2 * index + 2]!];
    root = await startProvisionedRoot({
      dir: join(dir, `root-${name}`), trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }), broker: brokerAccounts(admin, prefix),
      ...(store === undefined ? {} : { store }),
    });
    await root.enroll(n, `SN-R-${name}-1`);
    await root.enroll(v, `SN-R-${name}-2`);
    expect(await root.uploadBatch()).toMatchObject({ filed: 2 });
    client = new RegistrarClient(root.url);
  }, 60_000);

  afterAll(async () => {
    await root?.close();
    if (store !== undefined) {
      const c = new pg.Client({ connectionString: store.url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${store.schema} CASCADE`);
      await c.end();
    }
  });

  it('rotates: the old password is refused at once, the new one works; a connection on the old one is closed', { timeout: 60_000 }, async () => {
    const tpm = tpms[2 * index + 1]!;
    const first = await proofOf(client, tpm);
    const pw1 = await passwordOf(tpm, first);
    expect(await tryConnect(first.nodeId, pw1)).toBe('connected');
    const held = await mqtt.connectAsync(broker.url, { username: first.nodeId, password: pw1, ca: broker.caPem, protocolVersion: 5, reconnectPeriod: 0 });
    let heldClosed = false;
    held.on('close', () => { heldClosed = true; });

    const second = await proofOf(client, tpm);
    expect(second.nodeId).toBe(first.nodeId);
    const pw2 = await passwordOf(tpm, second);
    expect(pw2).not.toBe(pw1);
    expect(await tryConnect(first.nodeId, pw1)).toMatch(refusedRe);
    expect(await tryConnect(first.nodeId, pw2)).toBe('connected');
    await until('the connection on the old password closed', () => heldClosed, 10_000).finally(() => held.end(true));
    // The renewed certificate is the one the root serves now.
    expect((await client.node(first.nodeId))?.certificate).toEqual(second.certificate);
  });

  it('two re-activations at once: exactly one of the passwords handed out works', { timeout: 60_000 }, async () => {
    const tpm = tpms[2 * index + 1]!;
    const results = await Promise.allSettled([proofOf(client, tpm), proofOf(client, tpm)]);
    const won = results.filter((r): r is PromiseFulfilledResult<Proof> => r.status === 'fulfilled').map((r) => r.value);
    expect(won.length).toBeGreaterThan(0);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { details?: { rootCode?: string } }).details?.rootCode).toBe('ERR_PROV_SUPERSEDED');
    const outcomes = await Promise.all(won.map(async (p) => tryConnect(p.nodeId, await passwordOf(tpm, p))));
    expect(outcomes.filter((o) => o === 'connected')).toHaveLength(1);
  });

  it('another TPM cannot re-activate someone else\'s node: its secret does not open, a guess is refused, nothing rotates', { timeout: 60_000 }, async () => {
    const owner = tpms[2 * index + 1]!;
    const stranger = tpms[0]!;
    const current = await proofOf(client, owner);
    const pw = await passwordOf(owner, current);
    // Both public areas are public knowledge; the stranger asks with them.
    const key = (await owner.sealingKey())!;
    const ch = await client.challenge(toTpm2bPublic((await owner.ekPublic()).bytes), toTpm2bPublic(key.public.bytes));
    await expect(stranger.activateCredential({ credentialBlob: ch.credentialBlob, secret: ch.encryptedSecret })).rejects.toThrow();
    await expect(client.proof(ch.challengeId, new Uint8Array(32).fill(1))).rejects.toMatchObject({ details: { rootCode: 'ERR_PROV_BAD_PROOF' } });
    // Its own EK with the owner's sealing key is not a filed pair.
    await expect(client.challenge(toTpm2bPublic((await stranger.ekPublic()).bytes), toTpm2bPublic(key.public.bytes))).rejects.toMatchObject({ details: { rootCode: 'ERR_PROV_NOT_FILED' } });
    expect(await tryConnect(current.nodeId, pw)).toBe('connected');
  });

  it('a re-activation racing a revocation: the account ends disabled; afterwards re-activation is refused and it stays disabled', { timeout: 60_000 }, async () => {
    const tpm = tpms[2 * index + 2]!;
    const first = await proofOf(client, tpm);
    const pw1 = await passwordOf(tpm, first);
    expect(await tryConnect(first.nodeId, pw1)).toBe('connected');
    const [raced, revoked] = await Promise.allSettled([proofOf(client, tpm), root.revoke(first.nodeId, 'stolen')]);
    expect(revoked.status).toBe('fulfilled');
    if (raced.status === 'rejected') expect((raced.reason as { details?: { rootCode?: string } }).details?.rootCode).toBe('ERR_PROV_REVOKED');
    const passwords = [pw1, ...(raced.status === 'fulfilled' ? [await passwordOf(tpm, raced.value)] : [])];
    for (const pw of passwords) expect(await tryConnect(first.nodeId, pw)).toMatch(refusedRe);
    await expect(proofOf(client, tpm)).rejects.toMatchObject({ details: { rootCode: 'ERR_PROV_REVOKED' } });
    for (const pw of passwords) expect(await tryConnect(first.nodeId, pw)).toMatch(refusedRe);
    expect((await client.node(first.nodeId))?.state).toBe('revoked');
  });
});
