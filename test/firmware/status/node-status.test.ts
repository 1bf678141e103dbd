// The one shape of the node's status: status.json written and read back through the one reader,
// which refuses anything not shaped like a status (naming the field), and the MQTT message.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeStatus, readStatusFile, statusMessageOf, StatusError, STATUS_FILE, writeStatusFile } from '../../../firmware/status/index.ts';
import { snapshot } from './fixtures.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-node-status-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('node status', () => {
  it('status.json round-trips through the one writer and reader; no file is null', async () => {
    expect(await readStatusFile(join(dir, 'none'))).toBeNull();
    const s = snapshot({ faults: [{ key: 'seal journal', code: 'ERR_X', message: 'disk full', since: 5 }] });
    await writeStatusFile(dir, s);
    expect(await readStatusFile(dir)).toEqual(s);
  });

  it('refuses a file that is not a status, naming the field', async () => {
    const bad = async (value: unknown): Promise<string> => {
      await writeFile(join(dir, STATUS_FILE), typeof value === 'string' ? value : JSON.stringify(value));
      const err = await readStatusFile(dir).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(StatusError);
      expect((err as StatusError).code).toBe('ERR_STATUS_FILE');
      return (err as Error).message;
    };
    expect(await bad('{')).toMatch(/is not JSON/);
    expect(await bad({ ...snapshot(), version: 2 })).toMatch(/status\.version: expected 1/);
    expect(await bad({ ...snapshot(), state: 'dancing' })).toMatch(/status\.state: expected one of idle, running, stopped/);
    expect(await bad({ ...snapshot(), activation: { state: 'maybe' } })).toMatch(/status\.activation\.state/);
    expect(await bad({ ...snapshot(), chain: { height: 1 } })).toMatch(/status\.chain\.tipHash: expected string/);
    expect(await bad({ ...snapshot(), seals: { made: '3' } })).toMatch(/status\.seals\.made/);
    expect(await bad({ ...snapshot(), lastErrors: [{ at: 1, code: 2, message: 'x' }] })).toMatch(/status\.lastErrors\[0\]\.code/);
    expect(await bad({ ...snapshot(), faults: [{ key: 'k', code: 'c', message: 'm' }] })).toMatch(/status\.faults\[0\]\.since/);
    expect(await bad({ ...snapshot(), rejected: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`r${i}`, 1])) })).toMatch(/status\.rejected: expected object of at most 256 keys, got 300/);
    expect(await bad('x'.repeat(256 * 1024 + 1))).toMatch(/more than 262144/);
  });

  it('accepts what older agents wrote (no faults) and the household extras', () => {
    const { faults: _none, ...older } = snapshot({ faults: [] });
    expect(parseNodeStatus(older).faults).toBeUndefined();
    expect(parseNodeStatus(snapshot({ user: 'btn-node', statusLight: 'heartbeat' })).user).toBe('btn-node');
    expect(() => parseNodeStatus(snapshot({ board: 7 as unknown as string }))).toThrow(/status\.board/);
    const software = { version: '0.3.0', slot: 'B', other: { slot: 'A', version: null }, lastUpdate: { text: 'updated to 0.3.0', at: 5 } };
    expect(parseNodeStatus(snapshot({ software, journal: { entries: 3, highestHeight: 9 } }))).toMatchObject({ software, journal: { entries: 3, highestHeight: 9 } });
    expect(() => parseNodeStatus({ ...snapshot(), software: { ...software, lastUpdate: { text: 5, at: 5 } } })).toThrow(/status\.software\.lastUpdate\.text/);
    // A newer agent's extra fields are left out, not refused (the page keeps working across an update).
    expect(parseNodeStatus({ ...snapshot(), future: 1, chain: { ...snapshot().chain, more: 'x' } })).toEqual(snapshot());
  });

  it('the retained MQTT status message is a projection of the same status', () => {
    expect(statusMessageOf(snapshot(), 'btn-node')).toEqual({
      state: 'online', nodeId: 'a1b2c3d4e5f6', activation: 'active', height: 42, finalizedHeight: 40, sealsMade: 12, sealsPublished: 11,
      spinning: 0, at: 1_700_000_000_000, user: 'btn-node', tpm: { manufacturer: 'IBM', firmwareVersion: '20191023.0' },
    });
  });
});
