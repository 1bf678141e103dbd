// Seal journal throughput (docs/seal-journal.md): one decision = checkAndRecord (intent, fsync)
// + recordSeal (seal, fsync), as the agent does per sealed block. Baselines in the same run:
//   (a) the floor: the same record bytes appended to a file with FileHandle.appendFile + fdatasync (what the journal does),
//   (b) the alternative rejected for the device (a second native addon): better-sqlite3, WAL,
//       synchronous=FULL, one BEGIN EXCLUSIVE transaction per step with a unique (height, clerk).
// Rounds alternate so that load from other work on the machine falls on all three alike.
// Also: time to open (scan + replay) a journal of 10,000 sealed entries.
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { encodeRecord } from '../../firmware/sealing/journal-record.ts';
import { openSealJournal } from '../../firmware/sealing/journal.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const CLERK = 'c'.repeat(64);
const hashOf = (i: number): Uint8Array => new Uint8Array(createHash('sha256').update(`block ${i}`).digest());
const SIGNATURE = new Uint8Array(256).fill(7);
const SIG_HEX = Buffer.from(SIGNATURE).toString('hex');

async function journalRound(dir: string, n: number, tag: string): Promise<number> {
  const j = await openSealJournal(join(dir, `journal-${tag}`));
  const t0 = performance.now();
  for (let h = 1; h <= n; h++) {
    const blockHash = hashOf(h);
    const r = await j.checkAndRecord({ height: h, clerk: CLERK, blockHash });
    if (!r.ok) throw new Error('bench: unexpected refusal');
    await j.recordSeal({ height: h, clerk: CLERK, blockHash, round: 0, signature: SIGNATURE });
  }
  const ms = performance.now() - t0;
  await j.close();
  return (n / ms) * 1000;
}

async function appendRound(dir: string, n: number, tag: string): Promise<number> {
  const fh = await open(join(dir, `append-${tag}`), 'a');
  const t0 = performance.now();
  for (let h = 1; h <= n; h++) {
    const b = Buffer.from(hashOf(h)).toString('hex');
    await fh.appendFile(encodeRecord({ k: 'i', h, c: CLERK, b }));
    await fh.datasync();
    await fh.appendFile(encodeRecord({ k: 's', h, c: CLERK, b, r: 0, s: SIG_HEX }));
    await fh.datasync();
  }
  const ms = performance.now() - t0;
  await fh.close();
  return (n / ms) * 1000;
}

function sqliteRound(dir: string, n: number, tag: string): number {
  const db = new Database(join(dir, `sqlite-${tag}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE seals (height INTEGER NOT NULL, clerk TEXT NOT NULL, block_hash BLOB NOT NULL, round INTEGER, signature BLOB, PRIMARY KEY (height, clerk));
           CREATE TABLE watermark (id INTEGER PRIMARY KEY CHECK (id = 1), finalized INTEGER NOT NULL); INSERT INTO watermark VALUES (1, -1);`);
  const getWm = db.prepare('SELECT finalized FROM watermark WHERE id = 1');
  const get = db.prepare('SELECT block_hash FROM seals WHERE height = ? AND clerk = ?');
  const insert = db.prepare('INSERT INTO seals (height, clerk, block_hash) VALUES (?, ?, ?)');
  const seal = db.prepare('UPDATE seals SET round = ?, signature = ? WHERE height = ? AND clerk = ? AND block_hash = ? AND round IS NULL');
  const check = db.transaction((h: number, hash: Buffer) => {
    if ((getWm.get() as { finalized: number }).finalized >= h) return false;
    const row = get.get(h, CLERK) as { block_hash: Buffer } | undefined;
    if (row) return row.block_hash.equals(hash);
    insert.run(h, CLERK, hash);
    return true;
  });
  const record = db.transaction((h: number, hash: Buffer) => seal.run(0, Buffer.from(SIGNATURE), h, CLERK, hash));
  const t0 = performance.now();
  for (let h = 1; h <= n; h++) {
    const hash = Buffer.from(hashOf(h));
    if (!check.exclusive(h, hash)) throw new Error('bench: unexpected refusal');
    record.exclusive(h, hash);
  }
  const ms = performance.now() - t0;
  db.close();
  return (n / ms) * 1000;
}

export const run: BenchSuite = async (report, { quick }) => {
  const dir = await mkdtemp(join(tmpdir(), 'btn-bench-sealing-'));
  try {
    const n = quick ? 100 : 400;
    const rounds = quick ? 2 : 4;
    const j: number[] = [];
    const a: number[] = [];
    const s: number[] = [];
    await journalRound(dir, 20, 'warm');
    for (let r = 0; r < rounds; r++) {
      j.push(await journalRound(dir, n, `${r}`));
      a.push(await appendRound(dir, n, `${r}`));
      s.push(sqliteRound(dir, n, `${r}`));
    }
    const jm = Math.round(median(j));
    report(withBaseline('seal journal decisions (check+record, 2 fdatasync)', jm, 'decisions/s', 'appendFile+fdatasync of the same bytes', Math.round(median(a))));
    report(withBaseline('seal journal decisions (check+record, 2 fdatasync)', jm, 'decisions/s', 'better-sqlite3 WAL synchronous=FULL, exclusive tx', Math.round(median(s))));

    // Open cost: scan + CRC + replay of 10,000 sealed entries (one write, then reopen).
    const big = await openSealJournal(join(dir, 'big'));
    const doc = { version: 1, finalizedHeight: -1, entries: Array.from({ length: 10_000 }, (_, i) => ({ height: i + 1, clerk: CLERK, blockHash: Buffer.from(hashOf(i)).toString('hex'), seal: { round: 0, signature: SIG_HEX } })) };
    await big.import(doc);
    await big.close();
    const opens: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const k = await openSealJournal(join(dir, 'big'));
      opens.push(performance.now() - t0);
      await k.close();
    }
    report({ name: 'seal journal open, 10,000 sealed entries', value: Number(median(opens).toFixed(1)), unit: 'ms' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
