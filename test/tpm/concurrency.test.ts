// Several TPMs in one process (the devnet runs one per agent): each context is independent,
// and commands on different contexts overlap on koffi's worker threads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicKey, verify } from 'node:crypto';
import { openTpm, type Tpm } from '../../tpm/index.ts';
import { startFixture, type SwtpmFixture } from './helpers.ts';

describe('two TPMs used at the same time from one process', () => {
  const fixtures: SwtpmFixture[] = [];
  const tpms: Tpm[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) fixtures.push(await startFixture());
    for (const f of fixtures) tpms.push(await openTpm({ tcti: f.swtpm.tcti }));
  });

  afterAll(async () => {
    await Promise.allSettled(tpms.map((t) => t.close()));
    await Promise.allSettled(fixtures.map((f) => f.destroy()));
  });

  it('create sealing keys concurrently, then interleave signatures that each verify under their own key', async () => {
    const keys = await Promise.all(tpms.map((t) => t.ensureSealingKey()));
    expect(keys[0]!.publicKeyPem).not.toBe(keys[1]!.publicKeyPem);

    const jobs: Array<Promise<{ which: number; message: Uint8Array; signature: Uint8Array }>> = [];
    for (let i = 0; i < 40; i++) {
      const which = i % 2;
      const message = new Uint8Array([which, i, 0xab]);
      jobs.push(tpms[which]!.sign(message).then((signature) => ({ which, message, signature })));
    }
    const results = await Promise.all(jobs);
    for (const r of results) {
      const key = createPublicKey(keys[r.which]!.publicKeyPem);
      expect(verify('sha256', r.message, key, r.signature)).toBe(true);
    }
  });
});
