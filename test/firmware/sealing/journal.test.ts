import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireProcessLock } from '../../../firmware/core/process-lock.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealingError } from '../../../firmware/sealing/errors.ts';
import { encodeRecord, FILE_MAGIC, scanJournal } from '../../../firmware/sealing/journal-record.ts';
import { CLERK, CLERK2, hashOf, sigOf, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;
let open: SealJournal[] = [];
const path = (): string => join(dir, 'seal-journal');
async function openJ(p = path()): Promise<SealJournal> {
  const j = await openSealJournal(p);
  open.push(j);
  return j;
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  open = [];
});
afterEach(async () => {
  for (const j of open) await j.close();
  await cleanup();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as SealingError).code ?? String(err);
  }
}

describe('seal journal rules (docs/seal-journal.md)', () => {
  it('records a decision once, accepts the same block again; a seal takes the slot, an attempt without one gives way', async () => {
    const j = await openJ();
    const a = hashOf('a');
    const b = hashOf('b');
    // ok carries the decision the seal signer takes: the recorded (height, clerk, block).
    const decision = { height: 5, clerk: CLERK, blockHash: a };
    expect(await j.checkAndRecord({ height: 5, clerk: CLERK, blockHash: a })).toEqual({ ok: true, decision });
    expect(await j.checkAndRecord({ height: 5, clerk: CLERK, blockHash: a })).toEqual({ ok: true, decision });
    expect(j.holds(decision)).toBe(true);
    // A re-drawn block while A has no seal: B takes over, and A can no longer be signed or recorded.
    expect(await j.checkAndRecord({ height: 5, clerk: CLERK, blockHash: b })).toEqual({ ok: true, decision: { height: 5, clerk: CLERK, blockHash: b } });
    expect(j.holds(decision)).toBe(false);
    expect(await codeOf(j.recordSeal({ ...decision, round: 0, signature: sigOf('a') }))).toBe('ERR_JOURNAL_SUPERSEDED');
    await j.recordSeal({ height: 5, clerk: CLERK, blockHash: b, round: 1, signature: sigOf('b') });
    // Sealed: no other block, A included, ever takes the slot again.
    for (const other of [a, hashOf('c')]) {
      const r = await j.checkAndRecord({ height: 5, clerk: CLERK, blockHash: other });
      if (!r.ok && r.reason === 'conflicting-block') expect(r.recordedBlockHash).toEqual(b);
      else throw new Error(`unexpected ${JSON.stringify(r)}`);
    }
    // Another clerk at the same height is a different slot.
    expect((await j.checkAndRecord({ height: 5, clerk: CLERK2, blockHash: hashOf('b') })).ok).toBe(true);
  });

  it('returns the recorded seal for the same block', async () => {
    const j = await openJ();
    const a = hashOf('a');
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: a });
    await j.recordSeal({ height: 1, clerk: CLERK, blockHash: a, round: 3, signature: sigOf('s') });
    const r = await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: a });
    expect(r).toEqual({ ok: true, decision: { height: 1, clerk: CLERK, blockHash: a }, seal: { height: 1, clerk: CLERK, blockHash: a, round: 3, signature: sigOf('s') } });
    // Idempotent for the same seal, refused for a different one.
    await j.recordSeal({ height: 1, clerk: CLERK, blockHash: a, round: 3, signature: sigOf('s') });
    expect(await codeOf(j.recordSeal({ height: 1, clerk: CLERK, blockHash: a, round: 4, signature: sigOf('t') }))).toBe('ERR_JOURNAL_SEAL_EXISTS');
    expect(await codeOf(j.recordSeal({ height: 2, clerk: CLERK, blockHash: a, round: 0, signature: sigOf('s') }))).toBe('ERR_JOURNAL_NO_INTENT');
  });

  it('refuses heights at or below the finalized height; the watermark only rises', async () => {
    const j = await openJ();
    expect(j.finalizedHeight).toBe(-1);
    await j.setFinalized(10);
    await j.setFinalized(4);
    expect(j.finalizedHeight).toBe(10);
    for (const h of [0, 9, 10]) {
      const r = await j.checkAndRecord({ height: h, clerk: CLERK, blockHash: hashOf('x') });
      expect(r).toMatchObject({ ok: false, reason: 'finalized', finalizedHeight: 10 });
    }
    expect((await j.checkAndRecord({ height: 11, clerk: CLERK, blockHash: hashOf('x') })).ok).toBe(true);
  });

  it('rejects bad arguments with typed errors', async () => {
    const j = await openJ();
    expect(await codeOf(j.checkAndRecord({ height: -1, clerk: CLERK, blockHash: hashOf('a') }))).toBe('ERR_JOURNAL_INVALID_ARGUMENT');
    expect(await codeOf(j.checkAndRecord({ height: 1, clerk: 'a/b', blockHash: hashOf('a') }))).toBe('ERR_JOURNAL_INVALID_ARGUMENT');
    expect(await codeOf(j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: new Uint8Array(31) }))).toBe('ERR_JOURNAL_INVALID_ARGUMENT');
    expect(await codeOf(j.setFinalized(1.5))).toBe('ERR_JOURNAL_INVALID_ARGUMENT');
  });

  it('serializes concurrent calls: of eight different blocks racing to seal one slot exactly one is sealed', async () => {
    const j = await openJ();
    const attempt = async (i: number): Promise<boolean> => {
      const blockHash = hashOf(`c${i}`);
      const r = await j.checkAndRecord({ height: 7, clerk: CLERK, blockHash });
      if (!r.ok) return false;
      return j.recordSeal({ height: 7, clerk: CLERK, blockHash, round: 0, signature: sigOf(`c${i}`) }).then(() => true, (err: unknown) => {
        expect((err as SealingError).code).toBe('ERR_JOURNAL_SUPERSEDED');
        return false;
      });
    };
    const sealed = await Promise.all(Array.from({ length: 8 }, (_, i) => attempt(i)));
    expect(sealed.filter(Boolean)).toHaveLength(1);
    expect(j.export().entries.filter((e) => e.seal !== null)).toHaveLength(1);
  });
});

describe('persistence and damage', () => {
  async function populate(): Promise<void> {
    const j = await openSealJournal(path());
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('1') });
    await j.recordSeal({ height: 1, clerk: CLERK, blockHash: hashOf('1'), round: 0, signature: sigOf('1') });
    await j.setFinalized(1);
    await j.checkAndRecord({ height: 2, clerk: CLERK, blockHash: hashOf('2') });
    await j.close();
  }

  it('keeps every decision and seal across reopen', async () => {
    await populate();
    const first = await openSealJournal(path());
    await first.checkAndRecord({ height: 3, clerk: CLERK, blockHash: hashOf('3') });
    await first.recordSeal({ height: 3, clerk: CLERK, blockHash: hashOf('3'), round: 0, signature: sigOf('3') });
    await first.close();
    const j = await openJ();
    expect(j.finalizedHeight).toBe(1);
    expect(j.export().entries).toHaveLength(3);
    expect(j.holds({ height: 2, clerk: CLERK, blockHash: hashOf('2') })).toBe(true);
    expect(await j.checkAndRecord({ height: 3, clerk: CLERK, blockHash: hashOf('x') })).toMatchObject({ ok: false, reason: 'conflicting-block' });
    // Height 2 has a decision but no seal: a re-drawn block may take it after the restart.
    expect((await j.checkAndRecord({ height: 2, clerk: CLERK, blockHash: hashOf('x') })).ok).toBe(true);
  });

  /** The journal's bytes without the preallocated zeros after them. */
  async function dataOf(): Promise<Buffer> {
    const file = await readFile(path());
    return file.subarray(0, scanJournal(new Uint8Array(file), path()).validEnd);
  }

  it('truncates a torn last record at every byte offset (followed by nothing or by zeros) and keeps everything before it', async () => {
    await populate();
    const full = await dataOf();
    const last = encodeRecord({ k: 'i', h: 2, c: CLERK, b: Buffer.from(hashOf('2')).toString('hex') });
    const start = full.length - last.length;
    expect(Buffer.from(full.subarray(start)).equals(Buffer.from(last))).toBe(true);
    for (let cut = start + 1; cut < full.length; cut++) {
      for (const zeros of [0, 4096]) {
        await writeFile(path(), Buffer.concat([full.subarray(0, cut), Buffer.alloc(zeros)]));
        const j = await openSealJournal(path());
        expect(j.finalizedHeight).toBe(1);
        expect(j.export().entries.map((e) => e.height)).toEqual([1]);
        expect(j.size).toBe(start);
        // The lost intent was never acknowledged; the slot is free again and writes go after the cut.
        expect((await j.checkAndRecord({ height: 2, clerk: CLERK, blockHash: hashOf('other') })).ok).toBe(true);
        expect(j.size).toBe(start + last.length);
        await j.close();
        const k = await openSealJournal(path());
        expect(k.export().entries.map((e) => e.blockHash)).toEqual([hashOf('1'), hashOf('other')].map((h) => Buffer.from(h).toString('hex')));
        await k.close();
      }
    }
  });

  it('reads zeros after the data as free space, not as damage', async () => {
    await populate();
    const full = await dataOf();
    await writeFile(path(), Buffer.concat([full, Buffer.alloc(100)]));
    const j = await openJ();
    expect(j.size).toBe(full.length);
    expect(j.export().entries).toHaveLength(2);
  });

  it('preallocates: most appends change no file size', async () => {
    const j = await openJ();
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('1') });
    const size = (await stat(path())).size;
    expect(size).toBeGreaterThan(j.size);
    await j.checkAndRecord({ height: 2, clerk: CLERK, blockHash: hashOf('2') });
    expect((await stat(path())).size).toBe(size);
  });

  it('refuses a file whose damage lies before the tail, naming file and offset, and leaves it untouched', async () => {
    await populate();
    const full = await readFile(path());
    for (const at of [FILE_MAGIC.length + 2, FILE_MAGIC.length + 5, FILE_MAGIC.length + 14, 2]) {
      const bad = Buffer.from(full);
      bad[at] = bad[at]! ^ 0x40;
      await writeFile(path(), bad);
      const err = await openSealJournal(path()).then(() => null, (e: unknown) => e as SealingError);
      expect(err?.code).toBe('ERR_JOURNAL_CORRUPT');
      expect(err?.message).toContain(path());
      expect(err?.detail['offset']).toBe(at < FILE_MAGIC.length ? 0 : FILE_MAGIC.length);
      expect(Buffer.from(await readFile(path())).equals(bad)).toBe(true);
    }
  });

  it('refuses a file whose records contradict each other', async () => {
    const h = (s: string): string => Buffer.from(hashOf(s)).toString('hex');
    const cases: Buffer[][] = [
      // a decision for another block after a seal
      [encodeRecord({ k: 'i', h: 3, c: CLERK, b: h('a') }), encodeRecord({ k: 's', h: 3, c: CLERK, b: h('a'), r: 0, s: h('s').repeat(4) }), encodeRecord({ k: 'i', h: 3, c: CLERK, b: h('b') })],
      // a seal for a block that is not the slot's decision (another block took it)
      [encodeRecord({ k: 'i', h: 3, c: CLERK, b: h('a') }), encodeRecord({ k: 'i', h: 3, c: CLERK, b: h('b') }), encodeRecord({ k: 's', h: 3, c: CLERK, b: h('a'), r: 0, s: h('s').repeat(4) })],
      // two seals
      [encodeRecord({ k: 'i', h: 3, c: CLERK, b: h('a') }), encodeRecord({ k: 's', h: 3, c: CLERK, b: h('a'), r: 0, s: h('s').repeat(4) }), encodeRecord({ k: 's', h: 3, c: CLERK, b: h('a'), r: 1, s: h('t').repeat(4) })],
    ].map((records) => records.map((r) => Buffer.from(r)));
    for (const records of cases) {
      await writeFile(path(), Buffer.concat([FILE_MAGIC, ...records]));
      const err = await openSealJournal(path()).then(() => null, (e: unknown) => e as SealingError);
      expect(err?.code).toBe('ERR_JOURNAL_CORRUPT');
    }
  });

  it('lets only one opener hold the journal, naming the holder to the one refused; a crash leaves nothing to take over', async () => {
    const j = await openJ();
    const refused = await openSealJournal(path()).then(() => null, (e: unknown) => e as SealingError);
    expect(refused?.code).toBe('ERR_JOURNAL_LOCKED');
    expect(refused?.message).toMatch(new RegExp(`^seal journal ${path()} is held by pid ${process.pid} \\(.+, since .+\\); two agents must never share a journal$`));
    expect(refused?.detail).toMatchObject({ owner: { pid: process.pid } });
    await j.close();
    open = [];
    // What a crash leaves: the lock file naming a process that no longer runs. The kernel
    // dropped the lock itself with the process, so the next open holds it at once.
    await writeFile(`${path()}.lock`, JSON.stringify({ pid: 4_194_000, host: (await import('node:os')).hostname(), bootId: '', createdAt: 0 }));
    const k = await openJ();
    expect(k.finalizedHeight).toBe(-1);
  });

  it('is refused while another open of the lock file holds it, whatever the file says', async () => {
    const other = await acquireProcessLock(`${path()}.lock`); // what another process's journal holds
    try {
      await writeFile(`${path()}.lock`, 'not a holder');
      expect(await codeOf(openSealJournal(path()))).toBe('ERR_JOURNAL_LOCKED');
    } finally {
      await other.release();
    }
    await openJ();
  });
});

describe('export, import, compaction', () => {
  it('round-trips through the interchange format', async () => {
    const j = await openJ();
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('1') });
    await j.recordSeal({ height: 1, clerk: CLERK, blockHash: hashOf('1'), round: 2, signature: sigOf('1') });
    await j.checkAndRecord({ height: 2, clerk: CLERK2, blockHash: hashOf('2') });
    await j.setFinalized(0);
    const doc = j.export();
    expect(doc.version).toBe(1);
    const k = await openJ(join(dir, 'other'));
    expect(await k.import(JSON.stringify(doc))).toEqual({ added: 2, sealsAdded: 1, finalizedHeight: 0 });
    expect(k.export()).toEqual(doc);
    // Importing again changes nothing.
    expect(await k.import(doc)).toEqual({ added: 0, sealsAdded: 0, finalizedHeight: 0 });
  });

  it('refuses a conflicting import (two seals for one slot) without changing anything', async () => {
    const j = await openJ();
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('1') });
    await j.recordSeal({ height: 1, clerk: CLERK, blockHash: hashOf('1'), round: 0, signature: sigOf('1') });
    const before = j.export();
    const size = j.size;
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    for (const conflict of [
      { height: 1, clerk: CLERK, blockHash: hex(hashOf('other')), seal: { round: 0, signature: hex(sigOf('o')) } },
      { height: 1, clerk: CLERK, blockHash: hex(hashOf('1')), seal: { round: 1, signature: hex(sigOf('o')) } },
    ]) {
      const doc = { version: 1, finalizedHeight: 5, entries: [{ height: 9, clerk: CLERK, blockHash: hex(hashOf('9')), seal: null }, conflict] };
      expect(await codeOf(j.import(doc))).toBe('ERR_JOURNAL_IMPORT_CONFLICT');
      expect(j.export()).toEqual(before);
      expect(j.size).toBe(size);
    }
  });

  it('imports like it seals: a seal takes a slot from an attempt without one, an attempt never takes a sealed slot', async () => {
    const j = await openJ();
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('mine') });
    await j.checkAndRecord({ height: 2, clerk: CLERK, blockHash: hashOf('sealed') });
    await j.recordSeal({ height: 2, clerk: CLERK, blockHash: hashOf('sealed'), round: 0, signature: sigOf('sealed') });
    await j.checkAndRecord({ height: 3, clerk: CLERK, blockHash: hashOf('kept') });
    const r = await j.import({ version: 1, finalizedHeight: -1, entries: [
      { height: 1, clerk: CLERK, blockHash: hex(hashOf('theirs')), seal: { round: 2, signature: hex(sigOf('theirs')) } },
      { height: 2, clerk: CLERK, blockHash: hex(hashOf('attempt')), seal: null },
      { height: 3, clerk: CLERK, blockHash: hex(hashOf('other attempt')), seal: null },
    ] });
    expect(r).toMatchObject({ added: 1, sealsAdded: 1 });
    const byHeight = new Map(j.export().entries.map((e) => [e.height, e]));
    expect(byHeight.get(1)).toMatchObject({ blockHash: hex(hashOf('theirs')), seal: { round: 2 } });
    expect(byHeight.get(2)).toMatchObject({ blockHash: hex(hashOf('sealed')), seal: { round: 0 } });
    expect(byHeight.get(3)).toMatchObject({ blockHash: hex(hashOf('kept')), seal: null });
  });

  it('onlyAdd: an entry naming another block for a recorded (height, clerk) refuses the whole import, naming the heights', async () => {
    const j = await openJ();
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('mine') });
    await j.checkAndRecord({ height: 2, clerk: CLERK, blockHash: hashOf('sealed') });
    await j.recordSeal({ height: 2, clerk: CLERK, blockHash: hashOf('sealed'), round: 0, signature: sigOf('sealed') });
    const before = j.export();
    const size = j.size;
    const err = await j.import({ version: 1, finalizedHeight: 9, entries: [
      { height: 1, clerk: CLERK, blockHash: hex(hashOf('theirs')), seal: { round: 2, signature: hex(sigOf('theirs')) } },
      { height: 2, clerk: CLERK, blockHash: hex(hashOf('attempt')), seal: null },
      { height: 3, clerk: CLERK, blockHash: hex(hashOf('new')), seal: null },
    ] }, { onlyAdd: true }).then(() => null, (e: unknown) => e as SealingError);
    expect(err?.code).toBe('ERR_JOURNAL_IMPORT_CONFLICT');
    expect(err?.message).toMatch(/2 conflicting entries at heights 1, 2 \(first: height 1 clerk/);
    expect(err?.detail['heights']).toEqual([1, 2]);
    expect(j.export()).toEqual(before);
    expect(j.size).toBe(size);
    // The seal of the block already decided completes the slot.
    const r = await j.import({ version: 1, finalizedHeight: 0, entries: [
      { height: 1, clerk: CLERK, blockHash: hex(hashOf('mine')), seal: { round: 4, signature: hex(sigOf('mine')) } },
    ] }, { onlyAdd: true });
    expect(r).toEqual({ added: 0, sealsAdded: 1, finalizedHeight: 0 });
    expect(j.export().entries[0]).toMatchObject({ height: 1, blockHash: hex(hashOf('mine')), seal: { round: 4 } });
  });

  it('validates imports field by field', async () => {
    const j = await openJ();
    const cases: [unknown, string][] = [
      ['{', '$'], [{ version: 2, finalizedHeight: 0, entries: [] }, 'version'], [{ version: 1, finalizedHeight: 'x', entries: [] }, 'finalizedHeight'],
      [{ version: 1, finalizedHeight: 0, entries: [{ height: 1, clerk: 'x', blockHash: 'zz', seal: null }] }, 'entries[0].blockHash'],
      [{ version: 1, finalizedHeight: 0, entries: [{ height: 1, clerk: 'x', blockHash: 'ab'.repeat(32), seal: { round: 1, signature: 'ab' } }] }, 'entries[0].seal.signature'],
      ['x'.repeat(16 * 1024 * 1024 + 1), '$'], [[1], '$'],
      [{ version: 1, finalizedHeight: 0, entries: [], note: 'x' }, 'note'],
      [{ version: 1, finalizedHeight: 0, entries: [{ height: 1, clerk: 'x', blockHash: 'ab'.repeat(32), seal: { round: 1, signature: 'AB'.repeat(64) } }] }, 'entries[0].seal.signature'],
    ];
    for (const [doc, field] of cases) {
      const err = await j.import(doc).then(() => null, (e: unknown) => e as SealingError);
      expect(err?.code).toBe('ERR_JOURNAL_IMPORT_INVALID');
      expect(err?.detail['field']).toBe(field);
    }
  });

  it('compacts below the watermark, atomically, and the result reopens', async () => {
    const j = await openSealJournal(path());
    for (let h = 1; h <= 50; h++) {
      await j.checkAndRecord({ height: h, clerk: CLERK, blockHash: hashOf(`${h}`) });
      await j.recordSeal({ height: h, clerk: CLERK, blockHash: hashOf(`${h}`), round: 0, signature: sigOf(`${h}`) });
    }
    await j.setFinalized(45);
    const r = await j.compact({ retainBelowWatermark: 5 });
    expect(r.dropped).toBe(40);
    expect(r.after).toBeLessThan(r.before);
    // What status.json reports (an update's health check compares it): compaction lowers the count, never the height.
    expect([j.entryCount, j.highestHeight]).toEqual([10, 50]);
    expect((await j.checkAndRecord({ height: 45, clerk: CLERK, blockHash: hashOf('late') })).ok).toBe(false);
    await j.checkAndRecord({ height: 51, clerk: CLERK, blockHash: hashOf('51') });
    await j.close();
    const k = await openJ();
    expect(k.finalizedHeight).toBe(45);
    expect([k.entryCount, k.highestHeight]).toEqual([11, 51]);
    expect(k.export().entries.map((e) => e.height)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51]);
    expect((await k.checkAndRecord({ height: 50, clerk: CLERK, blockHash: hashOf('x') })).ok).toBe(false);
  });

  it('compacts by itself past a size limit', async () => {
    const j = await openSealJournal(path(), { compactAboveBytes: 2000, retainBelowWatermark: 0 });
    open.push(j);
    for (let h = 1; h <= 30; h++) {
      await j.checkAndRecord({ height: h, clerk: CLERK, blockHash: hashOf(`${h}`) });
      await j.setFinalized(h);
    }
    expect(j.size).toBeLessThan(2000);
    expect(j.export().entries.length).toBeLessThan(30);
  });

  it('is closed after close()', async () => {
    const j = await openSealJournal(path());
    await j.close();
    expect(await codeOf(j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('1') }))).toBe('ERR_JOURNAL_CLOSED');
    await truncate(path(), 8);
  });
});
