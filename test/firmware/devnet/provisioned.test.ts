// The provisioned devnet on real parts: swtpm TPMs enrolled by the factory station, the batch
// signed and uploaded to the in-process registrar (SQLite file), each agent activating itself
// (MakeCredential at the root, ActivateCredential on its swtpm), aedes, real agents behind the
// ActivationGate, clerks with the RegistrationAuthority.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readActivationState } from '../../../firmware/activation/state.ts';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { blockLine, startLine } from '../../../firmware/devnet/devnet-command.ts';
import type { DevnetEvent } from '../../../firmware/devnet/devnet.ts';
import type { Json } from '../../../firmware/protocol/message-schema.ts';
import { runProvisionedDevnet, type ProvisionedEvent } from '../../../firmware/devnet/provisioned-devnet.ts';
import { verifyRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';
import { checkDevnetLines } from './devnet-lines.ts';
import { standInAgent } from './stand-in-secondary.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('provisioned devnet (swtpm, factory, registrar on SQLite, activation, aedes)', () => {
  it('3 activated nodes x 3 blocks: every seal carries a registration that verifies under the root key; a filed node that never activates never seals', async () => {
    const events: (DevnetEvent | ProvisionedEvent)[] = [];
    const result = await runProvisionedDevnet({ nodes: 4, blocks: 3, offline: ['node-4'], handleSignals: false, onEvent: (e) => events.push(e) });
    expect(result.ok).toBe(true);
    const byLabel = new Map(result.provisioned.map((p) => [p.node, p]));
    for (const l of ['node-1', 'node-2', 'node-3']) expect(byLabel.get(l)).toMatchObject({ filed: true, finalState: 'active' });
    // node-4 is filed (in the batch, accepted) but its device never reached the root.
    expect(byLabel.get('node-4')).toMatchObject({ filed: true, msToActive: null, finalState: 'not-activated' });
    expect(byLabel.get('node-4')!.reason).toMatch(/127\.0\.0\.1:9|unreachable|ECONNREFUSED/i);
    expect(events.find((e) => e.type === 'filed')).toMatchObject({ filed: 4, rejected: 0 });

    const rootKey = new Uint8Array(Buffer.from(result.rootPublicKey, 'hex'));
    // The documented lines, checked with node:crypto alone, then each seal's registration.
    const params = events.find((e): e is Extract<DevnetEvent, { type: 'params' }> => e.type === 'params')!;
    const manifest = events.find((e): e is Extract<DevnetEvent, { type: 'manifest' }> => e.type === 'manifest')!;
    // One root key signs registrations, revocation lists and the network manifest.
    expect(manifest.rootPublicKey).toBe(result.rootPublicKey);
    expect(toHex(result.network.rootPublicKey)).toBe(result.rootPublicKey);
    const finals = events.filter((e): e is Extract<DevnetEvent, { type: 'final' }> => e.type === 'final');
    const lines = [JSON.stringify(startLine(params.params, manifest)), ...finals.map((f) => JSON.stringify(blockLine(f.block)))];
    const checked = checkDevnetLines(lines.join('\n'), 3);
    expect(checked.seals).toBeGreaterThanOrEqual(3);
    const offlineId = byLabel.get('node-4')!.nodeId;
    for (const b of checked.blocks) {
      for (const s of b['seals'] as { node: string; publicKeyPem: string; registration: unknown }[]) {
        expect(s.node).not.toBe(offlineId);
        const cert = verifyRegistrationCertificate(s.registration, rootKey, Date.now());
        expect(cert.nodeId).toBe(s.node);
        expect(cert.sealingPublicKey.trim()).toBe(s.publicKeyPem.trim());
        expect(cert.serial).toMatch(/^DEVNET-node-[123]$/);
      }
    }
    expect(result.registrations.accepted).toBe(checked.seals);
    expect(result.msToActivateAll).toBeGreaterThan(0);
  });

  it('revocation mid-run: after the root revokes node-2 its seals are refused as revoked, it stops sealing, and stays revoked on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'btn-devnet-prov-'));
    dirs.push(dir);
    const events: (DevnetEvent | ProvisionedEvent)[] = [];
    const H = 2;
    const result = await runProvisionedDevnet({
      nodes: 3, blocks: 6, stateDir: dir, revokeAfter: { height: H, node: 'node-2', reason: 'test' }, handleSignals: false,
      deviceRevocationPollMs: 500, onEvent: (e) => events.push(e),
    });
    expect(result.ok).toBe(true);
    expect(result.revocation).toMatchObject({ node: 'node-2', afterHeight: H, version: 1 });
    const revokedId = result.revocation!.nodeId;
    // The clerks apply the list right after block H; a seal for H+1 may race it, none after.
    for (const b of result.blocks.filter((x) => x.height >= H + 2)) expect(b.seals.map((s) => s.node)).not.toContain(revokedId);
    // Every refusal of node-2's seals after the revocation names the reason.
    const at = events.findIndex((e) => e.type === 'revoked');
    expect(at).toBeGreaterThan(0);
    const refused = events.slice(at).filter((e): e is Extract<DevnetEvent, { type: 'seal-rejected' }> => e.type === 'seal-rejected' && e.node === revokedId && e.code === 'revoked');
    for (const r of refused) expect(r.message).toMatch(/: revoked: .*test/);
    expect(result.registrations.rejected.revoked).toBe(refused.length);
    // The device learnt it from the signed list: its gate is revoked, and so is activation.json.
    expect(result.provisioned.find((p) => p.node === 'node-2')).toMatchObject({ finalState: 'revoked' });
    expect(await readActivationState(join(dir, 'node-2'))).toMatchObject({ status: 'revoked', revocationVersion: 1, revokedReason: 'test' });
    for (const l of ['node-1', 'node-3']) expect(result.provisioned.find((p) => p.node === l)).toMatchObject({ finalState: 'active' });
    console.log(`revocation: ${refused.length} seal(s) of node-2 refused as revoked; blocks ${result.blocks.length}`);
  });

  it('a tampered device that ignores its revocation: every later seal is refused by the clerks with reason revoked, and by the honest nodes (seal-revoked)', async () => {
    const events: (DevnetEvent | ProvisionedEvent)[] = [];
    let sentAfter = 0;
    let revokedAt = -1;
    const stateDir = await mkdtemp(join(tmpdir(), 'btn-devnet-tampered-'));
    dirs.push(stateDir);
    const result = await runProvisionedDevnet({
      // One zero bit: the tampered node qualifies within a round or two, so it seals most candidates.
      stateDir, nodes: 3, blocks: 8, params: { sealZeros: 1 }, revokeAfter: { height: 1, node: 'node-3', reason: 'tampered' }, handleSignals: false, onEvent: (e) => {
        events.push(e);
        if (e.type === 'revoked') revokedAt = events.length;
      },
      // node-3 activates like the others, then seals every candidate whatever its gate says, with
      // the registration it got (spinning to sealZeros: the zero bits are checked first, so each
      // qualifying seal then reaches the RegistrationAuthority).
      agentOverride: (node, ctx) => {
        if (node !== 'node-3') return undefined;
        let registration: Json | null = null;
        return standInAgent({
          transport: ctx.transport, nodeId: ctx.registeredId, topics: ctx.topics, params: ctx.params,
          sign: ctx.tpm.lotteryKey({ handle: ctx.sealingKey.handle }).sign,
          tamper: (seal) => {
            const g = ctx.gate.current();
            if (g.state === 'active') registration = g.registration as Json;
            if (revokedAt >= 0) sentAfter++;
            return { ...seal, registration };
          },
        });
      },
    });
    expect(result.ok).toBe(true);
    const revokedId = result.revocation!.nodeId;
    expect(result.provisioned.find((p) => p.node === 'node-3')?.finalState).toBe('revoked');
    const refused = events.slice(revokedAt).filter((e): e is Extract<DevnetEvent, { type: 'seal-rejected' }> => e.type === 'seal-rejected' && e.node === revokedId && e.code === 'revoked');
    // Blocks 3 to 8 come after the list was applied (block 2 may race it): at least 2 seals refused as revoked.
    expect(sentAfter).toBeGreaterThanOrEqual(2);
    expect(refused.length).toBeGreaterThanOrEqual(2);
    for (const r of refused) expect(r.message).toMatch(/: revoked: .*tampered/);
    expect(result.registrations.rejected.revoked).toBe(refused.length);
    for (const b of result.blocks.filter((x) => x.height >= 3)) expect(b.seals.map((s) => s.node)).not.toContain(revokedId);
    // The honest nodes judge the revoked node's seals with the same check as btn-node run
    // (createNode, competingSeal): refused as competition with the same code
    // (test/firmware/node/same-wiring.test.ts shows it for btn-node run).
    let refusedByNodes = 0;
    for (const l of ['node-1', 'node-2']) refusedByNodes += (await readStatusFile(join(stateDir, l)))?.invalidMessages['seal-revoked'] ?? 0;
    expect(refusedByNodes).toBeGreaterThan(0);
  });
});
