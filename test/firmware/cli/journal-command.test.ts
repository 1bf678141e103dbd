// `btn-node journal inspect|export|import` on real journal files in a temp dir: in process for
// the details, as a child process (as an operator runs it) for the wiring, exit codes and the lock.
import { execFile } from 'node:child_process';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { journalCommand } from '../../../firmware/cli/journal-command.ts';
import { acquireJournalLock } from '../../../firmware/sealing/journal-lock.ts';
import { encodeRecord } from '../../../firmware/sealing/journal-record.ts';
import { openSealJournal, type JournalExport } from '../../../firmware/sealing/journal.ts';
import { CLERK, CLERK2, hashOf, sigOf, tempDir } from '../sealing/helpers.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(ROOT, 'firmware', 'bin', 'btn-node.js');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function btnNode(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env };
  delete base['BTN_STATE_DIR'];
  return new Promise((done) => {
    execFile(process.execPath, [BIN, 'journal', ...args], { cwd: ROOT, env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** Runs the command in this process; stdout and stderr as text. */
async function inProcess(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await journalCommand(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(() => undefined, (e: unknown) => (e as { code?: string }).code);
}

async function snapshot(path: string): Promise<{ bytes: string; mtimeMs: number; size: number }> {
  const st = await stat(path);
  return { bytes: (await readFile(path)).toString('hex'), mtimeMs: st.mtimeMs, size: st.size };
}

let dir: string;
let cleanup: () => Promise<void>;
let journal: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  journal = join(dir, 'state', 'seal-journal');
});

afterEach(async () => {
  await cleanup();
});

/** Sealed at heights 1 (CLERK), 2 (CLERK and CLERK2), a decision without a seal at 4, finalized 2. */
async function recordSome(path: string, options: { preallocateBytes?: number } = {}): Promise<JournalExport> {
  const j = await openSealJournal(path, options);
  for (const [h, clerk, label, round] of [[1, CLERK, 'b1', 3], [2, CLERK, 'b2', 0], [2, CLERK2, 'b2x', 7]] as const) {
    await j.checkAndRecord({ height: h, clerk, blockHash: hashOf(label) });
    await j.recordSeal({ height: h, clerk, blockHash: hashOf(label), round, signature: sigOf(label) });
  }
  await j.checkAndRecord({ height: 4, clerk: CLERK, blockHash: hashOf('b4') });
  await j.setFinalized(2);
  const doc = j.export();
  await j.close();
  return doc;
}

describe('btn-node journal inspect', () => {
  it('shows the finalized height, the counts, the highest height and the last entries as text', async () => {
    await recordSome(journal);
    const all = await inProcess(['inspect', '--journal', journal]);
    expect(all.code).toBe(0);
    expect(all.err).toBe('');
    expect(all.out).toContain(`seal journal ${journal}: `);
    expect(all.out).toContain('node: not running (no lock)');
    expect(all.out).toContain('finalized height: 2\n');
    expect(all.out).toContain('entries: 4 (3 sealed, 1 decisions without a seal), heights 1..4\n');
    expect(all.out).toContain('highest height: 4\n');
    expect(all.out).toContain('tail: clean\n');
    expect(all.out).toContain('all 4 entries (height, seal, block hash, clerk):');
    expect(all.out).toContain(`  1  round 3       ${hex(hashOf('b1'))}  ${CLERK}\n`);
    expect(all.out).toContain(`  4  decision      ${hex(hashOf('b4'))}  ${CLERK}\n`);

    const last = await inProcess(['inspect', '--journal', journal, '--limit', '2']);
    expect(last.out).toContain('last 2 of 4 entries');
    expect(last.out).not.toContain(hex(hashOf('b1')));
    expect(last.out).not.toContain(hex(hashOf('b2')) + '  ');
    expect(last.out).toContain(hex(hashOf('b2x')));
    expect(last.out).toContain(hex(hashOf('b4')));
  });

  it('--json, run as a child process with --state-dir: every field, entries in the interchange shape', async () => {
    const doc = await recordSome(journal);
    const run = await btnNode(['inspect', '--state-dir', join(dir, 'state'), '--json', '--limit', '3']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(r).toEqual({
      journal, fileBytes: (await stat(journal)).size, running: false, lock: null, finalizedHeight: 2, entryCount: 4, sealedCount: 3,
      lowestHeight: 1, highestHeight: 4, sealCounter: null, tornTail: null, limit: 3, entries: doc.entries.slice(1),
    });
    // $BTN_STATE_DIR is the default directory.
    const viaEnv = await btnNode(['inspect', '--json'], { BTN_STATE_DIR: join(dir, 'state') });
    expect(JSON.parse(viaEnv.stdout)).toMatchObject({ journal, entryCount: 4 });
  });

  it('reports a torn tail that opening would cut, and leaves the file as it was (bytes and mtime)', async () => {
    await recordSome(journal, { preallocateBytes: 0 });
    const end = (await stat(journal)).size;
    // A power cut mid-append: the header and part of the body of a decision.
    const rec = encodeRecord({ k: 'i', h: 9, c: CLERK, b: hex(hashOf('torn')) });
    await appendFile(journal, rec.subarray(0, 30));
    const before = await snapshot(journal);
    const text = await inProcess(['inspect', '--journal', journal]);
    expect(text.out).toContain(`tail: torn last record at byte ${end} (record needs`);
    expect(text.out).toContain(`opening the journal cuts the file from ${end + 30} to ${end} bytes; inspect left it as it is`);
    const run = await btnNode(['inspect', '--journal', journal, '--json']);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { tornTail: unknown }).tornTail).toEqual({ offset: end, reason: expect.stringMatching(/^record needs/) as unknown, truncateTo: end });
    expect(await snapshot(journal)).toEqual(before);
    // export reads it the same way, and does not write either.
    const exported = await inProcess(['export', '--journal', journal]);
    expect((JSON.parse(exported.out) as JournalExport).entries).toHaveLength(4);
    expect(await snapshot(journal)).toEqual(before);
  });

  it('works beside a running node (the lock held by another live process) and says so', async () => {
    await recordSome(journal);
    const lock = await acquireJournalLock(journal);
    try {
      const before = await snapshot(journal);
      const run = await btnNode(['inspect', '--journal', journal]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`node: running: pid ${process.pid} on `);
      expect(run.stdout).toContain('entries: 4 ');
      const json = await btnNode(['inspect', '--journal', journal, '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({ running: true, lock: { state: 'held', pid: process.pid } });
      expect(await snapshot(journal)).toEqual(before);
    } finally {
      await lock.release();
    }
  });

  it('a missing or corrupt journal gives one clear error', async () => {
    expect(await codeOf(inProcess(['inspect', '--journal', join(dir, 'none')]))).toBe('ERR_JOURNAL_NOT_FOUND');
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(journal, 'not a journal');
    const run = await btnNode(['inspect', '--journal', journal]);
    expect(run.code).toBe(78);
    expect(run.stderr).toMatch(/^btn-node: seal journal .* is corrupt at byte offset 0: not a seal journal \(bad magic\).*\[ERR_JOURNAL_CORRUPT\]\n$/);
  });
});

describe('btn-node journal export and import', () => {
  it('export, then import into a fresh journal, reproduces the same entries and finalized height', async () => {
    const doc = await recordSome(journal);
    const file = join(dir, 'backup.json');
    const exp = await btnNode(['export', '--journal', journal, '--out', file]);
    expect(exp.stderr).toBe('');
    expect(exp.stdout).toBe(`exported 4 entries (3 sealed), finalized height 2, from ${journal} to ${file}\n`);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(doc);
    // stdout gives the same document.
    expect(JSON.parse((await inProcess(['export', '--journal', journal])).out)).toEqual(doc);

    const fresh = join(dir, 'new-card', 'seal-journal');
    const imp = await btnNode(['import', file, '--journal', fresh]);
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    expect(imp.stdout).toBe(`imported ${file} into ${fresh}: 4 decisions and 3 seals added, finalized height 2 (was -1)\n`);
    const j = await openSealJournal(fresh);
    try {
      expect(j.export()).toEqual(doc);
      // The imported promises hold: another block for a sealed slot is refused.
      expect(await j.checkAndRecord({ height: 3, clerk: CLERK, blockHash: hashOf('x') })).toMatchObject({ ok: true });
      expect(await j.checkAndRecord({ height: 2, clerk: CLERK, blockHash: hashOf('other') })).toMatchObject({ ok: false, reason: 'finalized' });
    } finally {
      await j.close();
    }
    // Importing the same file again adds nothing.
    expect((await inProcess(['import', file, '--journal', fresh])).out).toContain(': 0 decisions and 0 seals added, finalized height 2 (unchanged)');
  });

  it('merges: adds what is missing, completes a decision with its seal, never lowers the finalized height', async () => {
    const doc = await recordSome(journal);
    const target = join(dir, 'target');
    const t = await openSealJournal(target);
    await t.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('b1') }); // the decision, seal not yet recorded
    await t.checkAndRecord({ height: 7, clerk: CLERK, blockHash: hashOf('b7') });
    await t.setFinalized(5);
    await t.close();
    const file = join(dir, 'doc.json');
    await writeFile(file, JSON.stringify(doc));
    const r = await inProcess(['import', file, '--journal', target]);
    expect(r.out).toContain(': 3 decisions and 3 seals added, finalized height 5 (unchanged)');
    const j = await openSealJournal(target);
    try {
      const got = j.export();
      expect(got.finalizedHeight).toBe(5);
      expect(got.entries).toEqual([...doc.entries, { height: 7, clerk: CLERK, blockHash: hex(hashOf('b7')), seal: null }]);
    } finally {
      await j.close();
    }
  });

  it('refuses an entry naming another block for a recorded (height, clerk), names the height, and leaves the target byte-identical', async () => {
    await recordSome(journal, { preallocateBytes: 0 }); // no zeros reserved yet: an open that reserved some would show
    const before = await snapshot(journal);
    const entry = (h: number, label: string, sealed: boolean): unknown => ({ height: h, clerk: CLERK, blockHash: hex(hashOf(label)), seal: sealed ? { round: 1, signature: hex(sigOf(label)) } : null });
    for (const [i, conflict] of [entry(2, 'other', true), entry(4, 'other', false), entry(4, 'other', true), entry(1, 'b1-unsealed-other', false)].entries()) {
      const file = join(dir, `conflict-${i}.json`);
      // Harmless entries beside it: nothing of them is written either.
      await writeFile(file, JSON.stringify({ version: 1, finalizedHeight: 9, entries: [entry(8, 'new', true), conflict] }));
      const run = await btnNode(['import', file, '--journal', journal]);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toBe('');
      const h = (conflict as { height: number }).height;
      expect(run.stderr).toMatch(new RegExp(`^btn-node: import refused, nothing changed: 1 conflicting entry at height ${h} \\(first: height ${h} clerk .*\\[ERR_JOURNAL_IMPORT_CONFLICT\\]\\n$`));
      expect(await snapshot(journal)).toEqual(before);
    }
  });

  it('refuses while a node holds the journal lock, and changes nothing', async () => {
    const doc = await recordSome(journal);
    const file = join(dir, 'doc.json');
    await writeFile(file, JSON.stringify({ ...doc, finalizedHeight: 9, entries: [...doc.entries, { height: 8, clerk: CLERK, blockHash: hex(hashOf('8')), seal: null }] }));
    const lock = await acquireJournalLock(journal);
    try {
      const before = await snapshot(journal);
      const run = await btnNode(['import', file, '--journal', journal]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(`btn-node: a node is running on ${journal} (pid ${process.pid} on ${(JSON.parse(await readFile(`${journal}.lock`, 'utf8')) as { host: string }).host}): stop it first (systemctl stop btn-node), then import again; nothing was changed [ERR_JOURNAL_LOCKED]\n`);
      expect(await snapshot(journal)).toEqual(before);
    } finally {
      await lock.release();
    }
    // Once the node is gone the same import goes through.
    expect((await inProcess(['import', file, '--journal', journal])).out).toContain(': 1 decisions and 0 seals added, finalized height 9 (was 2)');
  });

  it('validates the file before touching the journal: size cap, JSON, every field, a regular file', async () => {
    const target = join(dir, 'never-created', 'seal-journal');
    const write = async (name: string, text: string): Promise<string> => {
      const f = join(dir, name);
      await writeFile(f, text);
      return f;
    };
    const cases: [string, RegExp][] = [
      [await write('big.json', ' '.repeat(16 * 1024 * 1024 + 1)), /is 16777217 bytes, at most 16777216/],
      [await write('bad.json', '{'), /interchange is not JSON/],
      [await write('v2.json', '{"version":2,"finalizedHeight":0,"entries":[]}'), /version: expected 1/],
      [await write('hash.json', JSON.stringify({ version: 1, finalizedHeight: 0, entries: [{ height: 1, clerk: CLERK, blockHash: 'zz', seal: null }] })), /entries\[0\]\.blockHash: expected lowercase hex of 32 bytes/],
      [await write('dup.json', JSON.stringify({ version: 1, finalizedHeight: 0, entries: [1, 1].map(() => ({ height: 1, clerk: CLERK, blockHash: hex(hashOf('a')), seal: null })) })), /entries\[1\]: repeats height 1/],
      [dir, /is not a regular file/],
    ];
    for (const [file, message] of cases) {
      const err = await inProcess(['import', file, '--journal', target]).then(() => null, (e: unknown) => e as { code: string; message: string });
      expect(err?.code, file).toBe('ERR_JOURNAL_IMPORT_INVALID');
      expect(err?.message).toMatch(message);
    }
    expect(await codeOf(inProcess(['import', join(dir, 'missing.json'), '--journal', target]))).toBe('ERR_JOURNAL_IO');
    await expect(stat(join(dir, 'never-created'))).rejects.toMatchObject({ code: 'ENOENT' });
    const run = await btnNode(['import', join(dir, 'bad.json'), '--journal', target]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^btn-node: seal journal import: interchange is not JSON.*\[ERR_JOURNAL_IMPORT_INVALID\]\n$/);
  });

  it('export refuses to write over the journal or its lock', async () => {
    await recordSome(journal);
    const before = await snapshot(journal);
    for (const out of [journal, `${journal}.lock`]) {
      expect(await codeOf(inProcess(['export', '--journal', journal, '--out', out]))).toBe('ERR_USAGE');
    }
    expect(await snapshot(journal)).toEqual(before);
  });
});

describe('btn-node journal arguments', () => {
  it('bad arguments exit 2 with a specific message and the usage', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^btn-node: usage:/],
      [['frob'], /unknown journal command "frob"/],
      [['import'], /FILE is required/],
      [['import', 'a.json', 'b.json'], /unexpected argument "b.json"/],
      [['inspect', '--journal', 'x', '--state-dir', 'y'], /give --journal or --state-dir, not both/],
      [['inspect', '--limit=-1'], /--limit must be an integer in 0\.\.1000000/],
      [['inspect', '--limit', '12345678'], /--limit must be an integer/],
      [['inspect', '--bogus'], /Unknown option '--bogus'/],
      [['export', 'extra'], /Unexpected argument 'extra'|positional/i],
      [['inspect', '--journal', ''], /must not be empty/],
    ];
    const runs = await Promise.all(cases.map(([args]) => btnNode(args)));
    for (const [i, run] of runs.entries()) {
      expect(run.code, cases[i]![0].join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(cases[i]![1]);
      expect(run.stderr).toContain('btn-node journal inspect [--journal PATH | --state-dir DIR]');
    }
  });

  it('--help prints the usage, and btn-node --help lists the journal command', async () => {
    const help = await btnNode(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('There is no reset');
    const top = await new Promise<string>((done) => execFile(process.execPath, [BIN, '--help'], { cwd: ROOT }, (_e, stdout) => done(stdout)));
    expect(top).toMatch(/\n {2}journal +journal inspect\|export\|import/);
  });
});
