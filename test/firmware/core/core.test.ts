// The core layer's small modules: atomic file replacement, process facts, sockets passed by
// systemd, Prometheus text, hex.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../firmware/core/atomic-write.ts';
import { bytesEqual, concatBytes, fromHex, leadingZeroBits, toHex } from '../../../firmware/core/bytes.ts';
import { listenFd } from '../../../firmware/core/listen-fds.ts';
import { bootId, processAlive } from '../../../firmware/core/process.ts';
import { escapeLabel, family } from '../../../firmware/core/prometheus.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-core-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole, with the mode asked for, and leaves no temporary file', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'old');
    await writeFileAtomic(path, [new Uint8Array([110, 101]), new Uint8Array([119])], { mode: 0o600 });
    expect(await readFile(path, 'utf8')).toBe('new');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await writeFileAtomic(join(dir, 'sub', 'status.json'), 'x', { durable: false, mode: 0o644 });
    expect((await stat(join(dir, 'sub', 'status.json'))).mode & 0o777).toBe(0o644);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a failed write leaves the old content and no temporary file', async () => {
    const path = join(dir, 'keep.json');
    await writeFileAtomic(path, 'old');
    await writeFile(join(dir, 'blocker'), '');
    // A path under a file cannot be created: the write fails before any rename.
    await expect(writeFileAtomic(join(dir, 'blocker', 'x.json'), 'new')).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe('old');
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('bytes', () => {
  it('hex round-trips, takes either case, refuses odd lengths and other characters', () => {
    expect(toHex(fromHex('00Ff10'))).toBe('00ff10');
    expect(() => fromHex('abc')).toThrow(TypeError);
    expect(() => fromHex('zz', 'key')).toThrow(/key must be an even-length hex string/);
    expect(toHex(new Uint8Array(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2))).toBe('0203');
  });

  it('compares, concatenates and counts leading zero bits', () => {
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(toHex(concatBytes([new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3])]))).toBe('010203');
    expect(leadingZeroBits(new Uint8Array([0, 0x10]))).toBe(11);
  });
});

describe('process', () => {
  it('knows this process is alive and a pid that cannot exist is not', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(2 ** 30)).toBe(false);
    expect(processAlive(-1)).toBe(false);
    expect(bootId()).toMatch(/^[0-9a-f-]*$/);
  });
});

describe('listenFd (sd_listen_fds)', () => {
  it('finds a passed socket by its name, from fd 3, only when LISTEN_PID is this process', () => {
    const env = { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'metrics:status' };
    expect(listenFd('status', env, 42)).toBe(4);
    expect(listenFd('metrics', env, 42)).toBe(3);
    expect(listenFd('status', env, 43)).toBeNull(); // inherited by a child: not its socket
    expect(listenFd('other', env, 42)).toBeNull();
    expect(listenFd('status', { ...env, LISTEN_FDS: '1' }, 42)).toBeNull(); // named but not passed
    for (const fds of ['0', '-1', '1.5', 'x', '65', '']) expect(listenFd('metrics', { ...env, LISTEN_FDS: fds }, 42), fds).toBeNull();
    expect(listenFd('status', {}, 42)).toBeNull();
  });
});

describe('prometheus', () => {
  it('writes HELP and TYPE once per family and escapes label values', () => {
    const text = family('btn_x_total', 'counter', 'X.', [{ labels: { node: 'a"b\\c\nd' }, value: 2 }, { value: Number.NaN }]);
    expect(text.split('\n')).toEqual(['# HELP btn_x_total X.', '# TYPE btn_x_total counter', 'btn_x_total{node="a\\"b\\\\c\\nd"} 2', 'btn_x_total 0']);
    expect(escapeLabel('\\')).toBe('\\\\');
  });
});
