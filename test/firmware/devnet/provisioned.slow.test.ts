// Slow: a longer provisioned devnet on real parts. 4 swtpm TPMs: node-1..3 filed and activated,
// node-4 never filed; 20 blocks, node-2 revoked after block 5. All blocks final, every seal's
// registration verifies under the root key, node-4 never seals, node-2 none after block 6.
import { describe, expect, it } from 'vitest';
import { runProvisionedDevnet } from '../../../firmware/devnet/provisioned-devnet.ts';
import { verifyRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';

describe('provisioned devnet, 20 blocks (slow)', () => {
  it('3 active nodes, 1 unfiled, revocation after block 5: all final, registrations verify', { timeout: 180_000 }, async () => {
    const result = await runProvisionedDevnet({ nodes: 4, blocks: 20, unfiled: ['node-4'], revokeAfter: { height: 5, node: 'node-2' }, handleSignals: false });
    expect(result.ok).toBe(true);
    const rootKey = new Uint8Array(Buffer.from(result.rootPublicKey, 'hex'));
    const id = (l: string): string => result.provisioned.find((p) => p.node === l)!.nodeId;
    expect(result.provisioned.find((p) => p.node === 'node-4')).toMatchObject({ filed: false, msToActive: null, finalState: 'not-activated' });
    expect(result.provisioned.find((p) => p.node === 'node-2')?.finalState).toBe('revoked');
    for (const b of result.blocks) {
      for (const s of b.seals as readonly (typeof b.seals[number] & { registration?: unknown })[]) {
        expect(s.node).not.toBe(id('node-4'));
        if (b.height >= 7) expect(s.node).not.toBe(id('node-2'));
      }
    }
    expect(result.registrations.rejected['no-registration']).toBe(0);
    expect(result.registrations.accepted).toBe(result.stats.sealsAccepted);
    // Each accepted seal's key came from a registration that verifies under the root key.
    for (const l of ['node-1', 'node-3']) {
      const p = result.provisioned.find((x) => x.node === l)!;
      expect(p.finalState).toBe('active');
    }
    expect(result.blocks.every((b) => b.seals.every((s) => verifyRegistrationCertificate((s as { registration?: unknown }).registration, rootKey, Date.now()).nodeId === s.node))).toBe(true);
  });
});
