// Child process of the group-commit durability test: opens the store at argv[2] (PostgreSQL with
// the schema argv[3], or '-'), files argv[4] devices with a challenge each, revokes one, completes
// every activation at once (group commit) and prints their outcomes as one JSON line once all
// were answered; then it waits to be killed. Run with `node --import tsx`.
import { createHash } from 'node:crypto';
import { openStore } from '../../provisioning/store/index.ts';
import type { NewDevice } from '../../provisioning/store/index.ts';

const [url, schema, countText] = process.argv.slice(2);
const count = Number(countText);
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const store = await openStore(url!, schema === '-' ? {} : { schema: schema! });
await store.addManufacturer({ name: 'acme', publicKey: new Uint8Array(32).fill(1), createdAt: 0 });
const devices: NewDevice[] = Array.from({ length: count }, (_, i) => ({
  ekName: sha(`ek ${i}`), nodeId: sha(`node ${i}`), ekPublic: new Uint8Array(64).fill(i % 256), ekCertificate: new Uint8Array(64),
  sealingPublic: new Uint8Array(Buffer.from(sha(`seal ${i}`), 'hex')), serial: `SN-${i}`, board: 'rpi4',
}));
await store.fileBatch({ id: 'kill', manufacturer: 'acme', manifestSha256: sha('kill'), signature: new Uint8Array(64), lineCount: count, rejected: 0, uploadedAt: 1 }, devices);
const secretHash = new Uint8Array(createHash('sha256').update('secret').digest());
await Promise.all(devices.map((d, i) => store.createChallenge({ id: `kill-${i}`, ekName: d.ekName, secretHash, createdAt: 1, expiresAt: 1e13, usedAt: null, generation: 0 })));
// one revoked meanwhile: its activation must fail alone
await store.revoke({ nodeId: devices[7]!.nodeId, reason: 'stolen', now: 2 });
const outcomes = await Promise.all(devices.map((d, i) => store.completeActivation({ challengeId: `kill-${i}`, secretHash, ekName: d.ekName, certificate: `cert ${i}`, now: 3 })));
process.stdout.write(JSON.stringify(outcomes) + '\n');
setInterval(() => undefined, 60_000);
