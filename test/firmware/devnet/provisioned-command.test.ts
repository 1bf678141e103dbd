// btn-node devnet, provisioned (the default): flag checks, and the --json lines of a real run:
// the params line names the root key, every seal's registration verifies under it.
import { describe, expect, it } from 'vitest';
import { devnetCommand } from '../../../firmware/devnet/devnet-command.ts';
import { verifyRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';
import { checkDevnetLines } from './devnet-lines.ts';

const run = (...argv: string[]) => devnetCommand(argv, { out: () => undefined });

describe('btn-node devnet --provisioned', () => {
  it('checks its flags with clear usage errors', async () => {
    await expect(run('--provisioned', '--unprovisioned')).rejects.toThrow(/exclude each other/);
    await expect(run('--unprovisioned', '--revoke-after', '2', 'node-2')).rejects.toThrow(/--revoke-after needs a provisioned devnet/);
    await expect(run('--revoke-after', '2', 'node-9')).rejects.toThrow(/"node-9" is not a node of this run \(node-1..node-3\)/);
    await expect(run('--blocks', '3', '--revoke-after', '3', 'node-2')).rejects.toThrow(/height must be in 1..2/);
    await expect(run('--revoke-after', 'x:node-2')).rejects.toThrow(/must be "H NODE"/);
    await expect(run('--offline', 'node-1,bogus')).rejects.toThrow(/--offline: "bogus"/);
    await expect(devnetCommand(['--provisioned'], { agentFactory: () => ({ start: () => undefined, stop: () => undefined }), out: () => undefined })).rejects.toThrow(/cannot take injected agents/);
  });

  it('--json (provisioned by default): params line with rootPublicKey; each seal carries a registration valid under it', async () => {
    const lines: string[] = [];
    expect(await devnetCommand(['--nodes', '2', '--blocks', '2', '--json'], { out: (l) => lines.push(l) })).toBe(0);
    const checked = checkDevnetLines(lines.join('\n'), 2);
    const first = JSON.parse(lines[0]!) as { rootPublicKey: string };
    expect(first.rootPublicKey).toMatch(/^[0-9a-f]{64}$/);
    const rootKey = new Uint8Array(Buffer.from(first.rootPublicKey, 'hex'));
    for (const b of checked.blocks) {
      for (const s of b['seals'] as { node: string; registration: unknown }[]) {
        expect(verifyRegistrationCertificate(s.registration, rootKey, Date.now()).nodeId).toBe(s.node);
      }
    }
  });
});
