// A revocation the disk refuses to store (full or read-only state directory): the
// gate stops sealing at once (the list is signed and verified; stopping is the safe direction)
// and keeps polling until a poll can write activation.json. Real parts: swtpm, the registrar on
// SQLite (the devnet's provisioned root), ActivationGate in this process.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivationGate } from '../../../firmware/activation/gate.ts';
import { ACTIVATION_FILE, readActivationState } from '../../../firmware/activation/state.ts';
import { startProvisionedRoot, type ProvisionedRoot } from '../../../firmware/devnet/provisioned-root.ts';
import { openTpm, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';

let dir: string;
let swtpm: SwtpmInstance;
let root: ProvisionedRoot;
let tpm: Tpm;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-revoke-unwritable-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  root = await startProvisionedRoot({ dir: join(dir, 'root'), trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }) });
  tpm = await openTpm({ tcti: swtpm.tcti });
  await root.enroll(tpm, 'SN-REVOKE-1', 'rpi4');
  expect(await root.uploadBatch()).toMatchObject({ filed: 1 });
}, 60_000);

afterAll(async () => {
  await tpm?.close();
  await root?.close();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('revocation while activation.json cannot be written', () => {
  it('stops sealing at once and writes the revocation once the disk takes it', async () => {
    const stateDir = join(dir, 'node');
    const gate = new ActivationGate({ rootUrl: root.url, rootPublicKey: root.rootPublicKey, tpm, stateDir, revocationPollMs: 100, backoff: { baseMs: 50, capMs: 200 } });
    try {
      await gate.start();
      const active = await gate.waitFor((s) => s.state === 'active');
      // A directory in the file's place: every write of activation.json fails (rename onto it).
      const file = join(stateDir, ACTIVATION_FILE);
      await rm(file);
      await mkdir(file);
      await writeFile(join(file, 'keep'), 'x');
      expect(await root.revoke(active.nodeId, 'stolen')).toBeGreaterThan(0);
      const revoked = await gate.waitFor((s) => s.state === 'revoked');
      expect(revoked.state === 'revoked' && revoked.reason).toBe('revoked by the root node: stolen');
      // Still polling: once the disk takes the file, the revocation is written for later restarts.
      await rm(file, { recursive: true });
      await until('the revocation written once the disk takes it', async () => (await readActivationState(stateDir).catch(() => null))?.status === 'revoked', 5000);
      expect((await readActivationState(stateDir))?.status).toBe('revoked');
      expect(gate.current().state).toBe('revoked');
    } finally {
      await gate.stop();
    }
  });
});
