// What the household sees of updates: readSoftware from the version file and the update files
// (unreadable ones show as unknown, never an error), and `btn-node status` printing it only where
// there is something to say.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { statusCommand } from '../../../firmware/cli/status-command.ts';
import { writeStatusFile } from '../../../firmware/status/index.ts';
import { OUTCOME_FILE, readSoftware, UpdateFiles } from '../../../firmware/update/index.ts';
import { healthyStatus } from './fake-device.ts';

const dir = await mkdtemp(join(tmpdir(), 'btn-update-software-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('software shown to the household', () => {
  it('reads the running version, the slots and the last outcome; nothing known is all null', async () => {
    const versionFile = join(dir, 'version');
    expect(await readSoftware(dir, versionFile)).toEqual({ version: null, slot: null, other: null, lastUpdate: null });
    await writeFile(versionFile, '0.3.0\n');
    const files = new UpdateFiles(dir);
    await files.writeSlots({ version: 1, booted: { slot: 'B', version: '0.3.0' }, other: { slot: 'A', version: '0.2.0', bootStatus: 'good' }, at: 1 });
    await files.writeOutcome({ version: 1, kind: 'updated', text: 'updated to 0.3.0', target: '0.3.0', from: '0.2.0', at: 1_800_000_000_000 });
    expect(await readSoftware(dir, versionFile)).toEqual({ version: '0.3.0', slot: 'B', other: { slot: 'A', version: '0.2.0' }, lastUpdate: { text: 'updated to 0.3.0', at: 1_800_000_000_000 } });
    await writeFile(join(dir, OUTCOME_FILE), '{"version":1,"kind":"maybe"}');
    expect((await readSoftware(dir, versionFile)).lastUpdate).toBeNull();
  });

  it('btn-node status prints the software line with the outcome age, and leaves it out when nothing is known', async () => {
    await writeStatusFile(dir, healthyStatus({ state: 'stopped' }));
    const now = 1_800_000_000_000 + 120_000;
    let out = '';
    const software = { version: '0.3.0', slot: 'B', other: { slot: 'A', version: '0.2.0' }, lastUpdate: { text: 'updated to 0.3.0', at: 1_800_000_000_000 } };
    expect(await statusCommand(['--state-dir', dir], { out: (t) => (out += t), now: () => now, software: async () => software })).toBe(0);
    expect(out).toContain('software: 0.3.0 (slot B); other slot A: 0.2.0; last update: updated to 0.3.0 (2m 0s ago)\n');
    let json = '';
    await statusCommand(['--state-dir', dir, '--json'], { out: (t) => (json += t), software: async () => software });
    expect(JSON.parse(json).software).toEqual(software);
    out = '';
    await statusCommand(['--state-dir', dir], { out: (t) => (out += t), now: () => now, software: async () => ({ version: null, slot: null, other: null, lastUpdate: null }) });
    expect(out).not.toContain('software');
  });
});
