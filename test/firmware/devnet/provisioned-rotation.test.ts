// A root key rotation on the provisioned devnet (swtpm, factory, registrar, aedes, real agents and
// clerks): after block 2 the root announces its next key; the nodes keep sealing through the
// window, renew under the new key once it opens, and the clerks take their seals under either
// key. Every block is final and no seal is refused for its registration.
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../firmware/core/bytes.ts';
import type { DevnetEvent } from '../../../firmware/devnet/devnet.ts';
import { runProvisionedDevnet, type ProvisionedEvent } from '../../../firmware/devnet/provisioned-devnet.ts';
import { verifyRegistration } from '../../../firmware/protocol/registration.ts';

/** The registration a provisioned run adds to each seal of a final block. */
const registrationOf = (seal: object): unknown => (seal as { registration?: unknown }).registration;

describe('provisioned devnet: root key rotation', () => {
  it('nodes seal through the window and renew under the new key; the clerks take both', async () => {
    const events: (DevnetEvent | ProvisionedEvent)[] = [];
    const result = await runProvisionedDevnet({
      nodes: 2, blocks: 14, handleSignals: false, deviceRevocationPollMs: 200, rotateRootAfter: { height: 2, opensInMs: 500 }, onEvent: (e) => events.push(e),
    });
    expect(result.ok).toBe(true);
    expect(result.blocks).toHaveLength(14);
    const rotation = events.find((e): e is Extract<ProvisionedEvent, { type: 'root-rotation' }> => e.type === 'root-rotation');
    expect(rotation).toMatchObject({ afterHeight: 2, version: 2 });
    const old = new Uint8Array(Buffer.from(result.rootPublicKey, 'hex'));
    const next = new Uint8Array(Buffer.from(rotation!.next, 'hex'));
    // Which key signed the registration each seal was accepted under, as each block went final.
    const finals = events.filter((e): e is Extract<DevnetEvent, { type: 'final' }> => e.type === 'final');
    expect(finals).toHaveLength(14);
    const signers = finals.flatMap((f) => f.block.seals.map((s) => toHex(verifyRegistration(registrationOf(s), [old, next]).signer)));
    expect(signers[0]).toBe(toHex(old));
    expect(signers.at(-1)).toBe(toHex(next));
    // Per node: the old key's registrations, then the new key's, never back.
    const byNode = new Map<string, string>();
    for (const f of finals) {
      for (const s of f.block.seals) {
        const k = toHex(verifyRegistration(registrationOf(s), [old, next]).signer) === toHex(old) ? 'K' : 'N';
        byNode.set(s.node, (byNode.get(s.node) ?? '') + k);
      }
    }
    for (const seq of byNode.values()) expect(seq).toMatch(/^K*N*$/);
    // No seal refused on the way.
    expect(Object.values(result.registrations.rejected).reduce((a, b) => a + b, 0)).toBe(0);
    for (const p of result.provisioned) expect(p.finalState).toBe('active');
  }, 120_000);
});
