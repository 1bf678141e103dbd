// The broker password follows the newest committed activation (provisioning/server/broker-rotation.ts),
// on a real SQLite store; the broker is a recording stub here so that a revocation or another
// activation can land exactly between a write and the read after it (the real mosquitto runs in
// broker-reactivation.test.ts).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { brokerPassword } from '../../firmware/protocol/broker-credential.ts';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { brokerSecret, rotateBrokerPassword } from '../../provisioning/server/broker-rotation.ts';
import type { BrokerAccounts } from '../../provisioning/server/activation.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const ekName = sha('ek');
const nodeId = sha('node');
const rootKey = generateEd25519().key;
const secretHash = new Uint8Array(createHash('sha256').update('s').digest());
const passwordOf = (generation: number): string => brokerPassword(brokerSecret(rootKey, nodeId, generation), nodeId);

let dir: string;
let store: ProvisioningStore;
let challenges = 0;

/** One more completed activation of the device; its broker generation. */
async function activateOnce(): Promise<number> {
  const id = `c${++challenges}`;
  const generation = (await store.getDevice(ekName))!.brokerGeneration; // a challenge answers for the state it was issued in
  await store.createChallenge({ id, ekName, secretHash, createdAt: 1, expiresAt: 10_000, usedAt: null, generation });
  const o = await store.completeActivation({ challengeId: id, secretHash, ekName, certificate: '{}', now: 2 });
  if (!o.ok) throw new Error(o.reason);
  return o.brokerGeneration;
}

/** A broker that records what it was told; `during` runs inside the first upsert (the race). */
function recording(during?: () => Promise<void>): BrokerAccounts & { ops: string[] } {
  const ops: string[] = [];
  let first = true;
  return {
    ops,
    async upsert(_node, password) {
      if (first && during !== undefined) {
        first = false;
        await during();
      }
      ops.push(`upsert ${password}`);
    },
    async disable() {
      ops.push('disable');
    },
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'btn-broker-rotation-'));
  store = await openStore(`sqlite:${join(dir, 'p.db')}`);
  await store.addManufacturer({ name: 'acme', publicKey: new Uint8Array(32).fill(1), createdAt: 1 });
  await store.fileBatch({ id: 'b1', manufacturer: 'acme', manifestSha256: sha('b1'), signature: new Uint8Array(64), lineCount: 1, rejected: 0, uploadedAt: 1 }, [{
    ekName, nodeId, ekPublic: new Uint8Array(randomBytes(300)), ekCertificate: new Uint8Array(randomBytes(900)), sealingPublic: new Uint8Array(32).fill(2), serial: 'SN-1', board: 'rpi4',
  }]);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('broker password rotation', () => {
  it('secrets differ per generation and per node, and are the same for the same root key', () => {
    expect(passwordOf(1)).toBe(passwordOf(1));
    expect(passwordOf(1)).not.toBe(passwordOf(2));
    expect(brokerSecret(rootKey, sha('other'), 1)).not.toEqual(brokerSecret(rootKey, nodeId, 1));
    expect(brokerSecret(generateEd25519().key, nodeId, 1)).not.toEqual(brokerSecret(rootKey, nodeId, 1));
  });

  it('uncontended: one write of its own generation', async () => {
    const g = await activateOnce();
    const broker = recording();
    expect(await rotateBrokerPassword({ store, accounts: broker, rootKey }, ekName, nodeId, g)).toBe('settled');
    expect(broker.ops).toEqual([`upsert ${passwordOf(g)}`]);
  });

  it('a later activation commits while the earlier one writes: the broker ends with the later password, the earlier one is superseded', async () => {
    const g1 = await activateOnce();
    let g2 = 0;
    const broker = recording(async () => { g2 = await activateOnce(); });
    expect(await rotateBrokerPassword({ store, accounts: broker, rootKey }, ekName, nodeId, g1)).toBe('superseded');
    expect(g2).toBe(g1 + 1);
    // Whatever order the two writers reach the broker in, this one's last write is the newest generation's.
    expect(broker.ops.at(-1)).toBe(`upsert ${passwordOf(g2)}`);
  });

  it('a revocation lands between the write and the read: the last word on the broker is a disable', async () => {
    const g = await activateOnce();
    const broker = recording(async () => { await store.revoke({ nodeId, reason: 'stolen', now: 3 }); });
    expect(await rotateBrokerPassword({ store, accounts: broker, rootKey }, ekName, nodeId, g)).toBe('revoked');
    expect(broker.ops).toEqual([`upsert ${passwordOf(g)}`, 'disable']);
  });

  it('a broker that fails: ERR_PROV_BROKER_UNAVAILABLE (the device tries again)', async () => {
    const g = await activateOnce();
    const broken: BrokerAccounts = { upsert: async () => { throw new Error('down'); }, disable: async () => undefined };
    await expect(rotateBrokerPassword({ store, accounts: broken, rootKey }, ekName, nodeId, g)).rejects.toMatchObject({ code: 'ERR_PROV_BROKER_UNAVAILABLE' });
  });
});
