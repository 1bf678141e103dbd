// The node's network terms: taken only from manifests signed by the root, kept durably, never
// rolled back by a restart, held back until they take effect.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { NetworkState, type NetworkSource } from '../../../firmware/node/network-state.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';

const keys = new NetworkKeys({ network: 'statenet', members: 3 });
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const genesis = { hash: new Uint8Array(32).fill(4), height: 0, timestamp: 1 };
const manifest = (version: number, validFrom = 0, sealZeros = 4) => keys.manifest({ version, validFrom, params: { ...DEFAULT_PARAMS, sealZeros }, primaries: [clerk], genesis });
const source: NetworkSource = { kind: 'signed', network: 'statenet', rootPublicKey: keys.root.publicKey };

let dir: string;
let file: string;
let clock: ManualClock;
const open = (): Promise<NetworkState> => NetworkState.open({ source, file, clock });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-network-state-'));
  file = join(dir, 'network-manifest.json');
  clock = new ManualClock(1_000_000);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('NetworkState', () => {
  it('stores a taken manifest before use, and a restart starts from it and refuses older ones', async () => {
    const s = await open();
    expect(s.current).toBeNull();
    const changes: number[] = [];
    s.onChange((t) => changes.push(t.version));
    expect(await s.offer(manifest(5), 'broker')).toEqual({ outcome: 'taken', version: 5 });
    expect(await s.offer(manifest(5), 'root')).toEqual({ outcome: 'held', version: 5 });
    expect(changes).toEqual([5]);
    expect(JSON.parse(await readFile(file, 'utf8')).version).toBe(5);
    const again = await open();
    expect(again.current?.version).toBe(5);
    expect(await again.offer(manifest(4), 'broker')).toMatchObject({ outcome: 'refused', code: 'ERR_PROTOCOL_MANIFEST' });
    expect(again.current?.version).toBe(5);
    expect(JSON.parse(await readFile(file, 'utf8')).version).toBe(5);
  });

  it('refuses a forged manifest and leaves what it holds and stores alone', async () => {
    const s = await open();
    await s.offer(manifest(1), 'broker');
    const before = await readFile(file);
    const forged = { ...manifest(2, 0, 0) };
    const stranger = new NetworkKeys({ network: 'statenet', members: 3 }).manifest({ version: 2, params: DEFAULT_PARAMS, primaries: [clerk], genesis });
    expect(await s.offer({ ...forged, params: { ...forged.params, sealZeros: 1 } }, 'broker')).toMatchObject({ outcome: 'refused' });
    expect(await s.offer(stranger, 'broker')).toMatchObject({ outcome: 'refused' });
    expect(await s.offer({ garbage: true }, 'broker')).toMatchObject({ outcome: 'refused' });
    expect(s.current?.version).toBe(1);
    expect((await readFile(file)).equals(before)).toBe(true);
  });

  it('holds a manifest back until its validFrom, then takes it', async () => {
    const s = await open();
    await s.offer(manifest(1), 'broker');
    expect(await s.offer(manifest(2, clock.now() + 60_000, 9), 'broker')).toMatchObject({ outcome: 'pending', version: 2 });
    expect(s.current?.params.sealZeros).toBe(4);
    const taken = new Promise<number>((resolve) => s.onChange((t) => resolve(t.params.sealZeros)));
    await clock.advance(60_000);
    expect(await taken).toBe(9);
    expect(s.current?.version).toBe(2);
    s.close();
  });

  it('reports a damaged stored manifest, keeps the file, and waits for a valid one', async () => {
    await writeFile(file, '{"version": 99, "not": "a manifest"');
    const s = await open();
    expect(s.current).toBeNull();
    expect(await readFile(file, 'utf8')).toContain('"version": 99');
    expect(await s.offer(manifest(3), 'root')).toEqual({ outcome: 'taken', version: 3 });
  });

  it('pinned terms cannot be replaced by anything that arrives', async () => {
    const held = await open();
    await held.offer(manifest(1), 'test');
    const pinned = await NetworkState.open({ source: { kind: 'pinned', terms: held.current! } });
    expect(await pinned.offer(manifest(2), 'broker')).toMatchObject({ outcome: 'refused', code: 'pinned' });
    expect(pinned.current?.version).toBe(1);
  });
});
