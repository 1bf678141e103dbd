// Factory station: batch appends (lock, durability, duplicates, torn tail) in isolation, and
// `btn-provision factory enroll|enroll-many` on real swtpm TPMs whose lines the registrar's own
// line check accepts against the swtpm CA.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendBatchEntry, type BatchEntry } from '../../provisioning/factory/batch-file.ts';
import { acquireBatchLock } from '../../provisioning/factory/batch-lock.ts';
import { parseEnrollList } from '../../provisioning/factory/enroll-many.ts';
import { FactoryError } from '../../provisioning/factory/errors.ts';
import { createProgress } from '../../provisioning/factory/progress.ts';
import { factoryCommand } from '../../provisioning/cli/factory-command.ts';
import { checkManifestLine, isRejection, parseManifestLine, TrustStore } from '../../provisioning/manifest/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../tpm/swtpm.ts';
import { tpm2 } from '../tpm/helpers.ts';

const run = promisify(execFile);

function entry(i: number | string, over: Partial<BatchEntry> = {}): BatchEntry {
  const ek = Buffer.alloc(40);
  ek.write(`ek-${i}`);
  return {
    serial: `SN-${i}`,
    board: 'rpi4',
    ekPublic: ek.toString('hex'),
    ekCertificate: Buffer.from(`cert-${i}`).toString('base64'),
    sealingPublic: 'abcd'.repeat(50),
    ...over,
  };
}

async function lines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

async function errorOf(p: Promise<unknown>): Promise<FactoryError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(FactoryError);
  return err as FactoryError;
}

describe('batch file appends', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-factory-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends parseable lines, and the same TPM twice is one line', async () => {
    const batch = join(dir, 'dup.jsonl');
    expect(await appendBatchEntry(batch, entry(1))).toEqual({ status: 'added', line: 1, droppedTornBytes: 0 });
    expect(await appendBatchEntry(batch, entry(2))).toMatchObject({ status: 'added', line: 2 });
    expect(await appendBatchEntry(batch, entry(1))).toMatchObject({ status: 'already-enrolled', line: 1 });
    const text = await lines(batch);
    expect(text).toHaveLength(2);
    for (const l of text) expect(isRejection(parseManifestLine(l) as object)).toBe(false);
  });

  it('refuses a known EK under another serial or board, and a serial used by another EK', async () => {
    const batch = join(dir, 'conflict.jsonl');
    await appendBatchEntry(batch, entry(1));
    expect((await errorOf(appendBatchEntry(batch, entry(1, { serial: 'SN-OTHER' })))).code).toBe('ERR_FACTORY_EK_CONFLICT');
    expect((await errorOf(appendBatchEntry(batch, entry(1, { board: 'x86' })))).code).toBe('ERR_FACTORY_EK_CONFLICT');
    expect((await errorOf(appendBatchEntry(batch, entry(1, { sealingPublic: 'ef'.repeat(100) })))).message).toMatch(/another sealing key/);
    const taken = await errorOf(appendBatchEntry(batch, entry(2, { serial: 'SN-1' })));
    expect(taken.code).toBe('ERR_FACTORY_SERIAL_TAKEN');
    expect(taken.message).toMatch(/line 1/);
    expect(await lines(batch)).toHaveLength(1);
  });

  it('refuses a line the registrar would reject', async () => {
    const err = await errorOf(appendBatchEntry(join(dir, 'bad.jsonl'), entry(1, { serial: 'bad serial' })));
    expect(err.code).toBe('ERR_FACTORY_ARGUMENT');
  });

  it('drops a torn last line left by a station that died mid-write', async () => {
    const batch = join(dir, 'torn.jsonl');
    await appendBatchEntry(batch, entry(1));
    await appendFile(batch, '{"serial":"SN-2","bo');
    const r = await appendBatchEntry(batch, entry(3));
    expect(r).toEqual({ status: 'added', line: 2, droppedTornBytes: 20 });
    const text = await lines(batch);
    expect(text.map((l) => JSON.parse(l).serial)).toEqual(['SN-1', 'SN-3']);
  });

  it('sees lines other stations appended since its last look, and a replaced file; a corrupt line stops it', async () => {
    const batch = join(dir, 'incremental.jsonl');
    await appendBatchEntry(batch, entry(1));
    // Another station (another process: raw append) files TPM 2.
    await appendFile(batch, `${JSON.stringify(entry(2))}\n`);
    expect(await appendBatchEntry(batch, entry(2))).toMatchObject({ status: 'already-enrolled', line: 2 });
    expect((await errorOf(appendBatchEntry(batch, entry(3, { serial: 'SN-2' })))).code).toBe('ERR_FACTORY_SERIAL_TAKEN');
    // The file is replaced by a fresh one (new inode): TPM 1 is no longer in it.
    await rm(batch);
    await writeFile(batch, `${JSON.stringify(entry(2))}\n`);
    expect(await appendBatchEntry(batch, entry(1))).toMatchObject({ status: 'added', line: 2 });
    await appendFile(batch, '{"serial":"SN-9","board":"rpi4"}\n');
    const corrupt = await errorOf(appendBatchEntry(batch, entry(4)));
    expect(corrupt.code).toBe('ERR_FACTORY_BATCH_CORRUPT');
    expect(corrupt.message).toMatch(/line 3 is not a valid manifest line \(ekPublic: expected a string\)/);
    expect(await lines(batch)).toHaveLength(3);
  });

  it('40 concurrent appends in one process: 40 whole lines, none lost or interleaved', async () => {
    const batch = join(dir, 'concurrent.jsonl');
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => appendBatchEntry(batch, entry(i))));
    expect(new Set(results.map((r) => r.line)).size).toBe(40);
    const text = await lines(batch);
    expect(text).toHaveLength(40);
    expect(new Set(text.map((l) => JSON.parse(l).serial)).size).toBe(40);
  });

  it('two station processes appending to one batch at once: every line whole, none lost', async () => {
    const batch = join(dir, 'two-procs.jsonl');
    const worker = new URL('./factory-worker.ts', import.meta.url).pathname;
    await Promise.all(['A', 'B'].map((p) => run(process.execPath, ['--import', 'tsx', worker, batch, p, '25'], { timeout: 60_000 })));
    const text = await lines(batch);
    expect(text).toHaveLength(50);
    for (const l of text) expect(isRejection(parseManifestLine(l) as object)).toBe(false);
    expect(new Set(text.map((l) => JSON.parse(l).serial)).size).toBe(50);
  });

  it('waits for a held lock, times out naming the owner; a lock file naming a dead process holds nothing', async () => {
    const batch = join(dir, 'lock.jsonl');
    const held = await acquireBatchLock(batch);
    const err = await errorOf(appendBatchEntry(batch, entry(1), { lock: { timeoutMs: 150 } }));
    expect(err.code).toBe('ERR_FACTORY_LOCK_TIMEOUT');
    expect(err.message).toContain(`is held by pid ${process.pid} (`);
    // Released while another waits: the waiter gets it.
    const waiting = appendBatchEntry(batch, entry(1), { lock: { timeoutMs: 5_000 } });
    setTimeout(() => void held.release(), 50);
    expect((await waiting).status).toBe('added');
    // The name a dead station left behind is only a name: the OS lock went with the process.
    const { hostname } = await import('node:os');
    const dead = await run(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    await writeFile(`${batch}.lock`, JSON.stringify({ pid: Number(dead.stdout), host: hostname(), at: 'x' }));
    expect((await appendBatchEntry(batch, entry(2), { lock: { timeoutMs: 1_000 } })).status).toBe('added');
  });
});

describe('enroll list and progress', () => {
  it('parses "tcti serial board" lines with comments and names the bad line', () => {
    expect(parseEnrollList('# tray 1\nswtpm:port=2321 SN-1 rpi4\n\n  swtpm:host=127.0.0.1,port=2331   SN-2 rpi4 # spare\n')).toEqual([
      { line: 2, tcti: 'swtpm:port=2321', serial: 'SN-1', board: 'rpi4' },
      { line: 4, tcti: 'swtpm:host=127.0.0.1,port=2331', serial: 'SN-2', board: 'rpi4' },
    ]);
    expect(() => parseEnrollList('swtpm:port=1 SN-1\n')).toThrow(/list line 1: expected "tcti serial board"/);
    expect(() => parseEnrollList('swtpm:port=1 SN-1 rpi4\nswtpm:port=2 SN-1 rpi4\n')).toThrow(/line 2: serial "SN-1" is also on list line 1/);
    expect(() => parseEnrollList('swtpm:port=1 SN;1 rpi4\n')).toThrow(/serial must be/);
  });

  it('draws a bar on a terminal and plain lines otherwise', () => {
    const out: string[] = [];
    const plain = createProgress(2, { write: (t: string) => out.push(t) });
    plain.step('SN-1 added');
    plain.step('SN-2 FAILED');
    plain.done();
    expect(out).toEqual(['enroll 1/2 SN-1 added\n', 'enroll 2/2 SN-2 FAILED\n']);
    const tty: string[] = [];
    const bar = createProgress(2, { write: (t: string) => tty.push(t), isTTY: true, columns: 70 });
    bar.step('SN-1 added');
    bar.done();
    expect(tty[0]).toMatch(/^\renroll \[#{10}-{10}\] 1\/2 SN-1 added\x1b\[K$/);
    expect(tty[1]).toBe('\n');
  });
});

describe('btn-provision factory on real swtpm TPMs', () => {
  let dir: string;
  const tpms: SwtpmInstance[] = [];
  let trust: TrustStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-factory-tpm-'));
    const caDir = join(dir, 'ca');
    // The first creates the CA the others reuse; so one after another.
    for (let i = 0; i < 3; i++) tpms.push(await startSwtpm({ caDir }));
    trust = await TrustStore.fromDirectory(caDir);
  });
  afterAll(async () => {
    for (const t of tpms) await t.destroy().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const capture = (): { stderr: { write(t: string): boolean; isTTY: false }; text: () => string } => {
    const chunks: string[] = [];
    return { stderr: { write: (t: string) => chunks.push(t) > 0, isTTY: false }, text: () => chunks.join('') };
  };

  it('enroll-many enrolls 3 TPMs with progress lines; the registrar accepts every line', async () => {
    const batch = join(dir, 'batch.jsonl');
    const list = join(dir, 'list.txt');
    await writeFile(list, tpms.map((t, i) => `${t.tcti} SN-${i} rpi4`).join('\n') + '\n');
    const io = capture();
    expect(await factoryCommand(['enroll-many', '--list', list, '--batch', batch], io)).toBe(0);
    expect(io.text().split('\n').filter((l) => l.startsWith('enroll '))).toEqual(['enroll 1/3 SN-0 added', 'enroll 2/3 SN-1 added', 'enroll 3/3 SN-2 added']);
    const text = await lines(batch);
    expect(text).toHaveLength(3);
    const ekNames = new Set<string>();
    for (const l of text) {
      const parsed = parseManifestLine(l);
      if (isRejection(parsed)) throw new Error(parsed.reason);
      const device = checkManifestLine(parsed, trust, Date.now());
      if (isRejection(device)) throw new Error(`${device.code}: ${device.reason}`);
      ekNames.add(device.ekName);
    }
    expect(ekNames.size).toBe(3);

    // Same list again: nothing duplicated.
    const again = capture();
    expect(await factoryCommand(['factory', 'enroll-many', '--list', list, '--batch', batch], again)).toBe(0);
    expect(again.text()).toContain('enroll 3/3 SN-2 already-enrolled');
    expect(await lines(batch)).toHaveLength(3);
  });

  it('enroll of a known TPM under another serial fails with a clear message; the batch is unchanged', async () => {
    const batch = join(dir, 'batch.jsonl');
    const io = capture();
    expect(await factoryCommand(['enroll', '--tcti', tpms[0]!.tcti, '--batch', batch, '--serial', 'SN-NEW', '--board', 'rpi4'], io)).toBe(1);
    expect(io.text()).toMatch(/already enrolled in .*batch\.jsonl line 1 as serial "SN-0".*\[ERR_FACTORY_EK_CONFLICT\]/);
    expect(await lines(batch)).toHaveLength(3);
  });

  it('a TPM without an EK certificate is refused; an unreachable TPM fails its list entry, the others go on', async () => {
    const batch = join(dir, 'nocert.jsonl');
    // Remove the EK certificates, RSA and ECC (platform hierarchy, empty auth on swtpm): with one
    // left, the TPM would be filed under that EK (test/provisioning/ecc-ek.test.ts).
    for (const index of ['0x01c00002', '0x01c00016']) await tpm2('tpm2_nvundefine', ['-T', tpms[2]!.tcti, '-C', 'p', index]);
    const io = capture();
    expect(await factoryCommand(['enroll', '--tcti', tpms[2]!.tcti, '--batch', batch, '--serial', 'SN-X', '--board', 'rpi4'], io)).toBe(1);
    expect(io.text()).toMatch(/no EK certificate.*\[ERR_FACTORY_NO_EK_CERT\]/);

    const list = join(dir, 'mixed.txt');
    await writeFile(list, `swtpm:host=127.0.0.1,port=1 SN-DEAD rpi4\n${tpms[1]!.tcti} SN-1 rpi4\n`);
    const many = capture();
    expect(await factoryCommand(['enroll-many', '--list', list, '--batch', batch], many)).toBe(1);
    expect(many.text()).toContain('enroll 1/2 SN-DEAD FAILED ERR_FACTORY_TPM');
    expect(many.text()).toContain('enroll 2/2 SN-1 added');
    expect(many.text()).toMatch(/list line 1 \(SN-DEAD\): cannot open the TPM at swtpm:host=127\.0\.0\.1,port=1/);
    expect(await lines(batch)).toHaveLength(1);
  });

  it('usage errors exit 2', async () => {
    const io = capture();
    expect(await factoryCommand(['enroll', '--batch', 'x'], io)).toBe(2);
    expect(io.text()).toMatch(/needs --tcti/);
    expect(await factoryCommand(['bogus'], io)).toBe(2);
  });
});
