// btn-node journal inspect|export|import: the operator's view of the seal journal and the way to
// move it to new storage (docs/seal-journal.md). inspect and export only read the file, so they
// work beside a running node; import refuses while one runs and only adds. There is no reset:
// an empty journal would let the node seal again what it already sealed.
import { resolve } from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { parse, parseWithOperands, UsageError } from '../core/cli-args.ts';
import { SealingError } from '../sealing/errors.ts';
import { openSealJournal } from '../sealing/journal.ts';
import { MAX_INTERCHANGE_BYTES, MAX_INTERCHANGE_ENTRIES, readInterchangeFile, type JournalExport } from '../sealing/journal-interchange.ts';
import { exportSlots } from '../sealing/journal-slots.ts';
import { readJournalView } from '../sealing/journal-view.ts';
import { describeView, inspectReport } from './journal-report.ts';
import { DEFAULT_STATE_DIR, JOURNAL_FILE } from './run-config.ts';

const USAGE = `usage:
  btn-node journal inspect [--journal PATH | --state-dir DIR] [--limit N] [--json]
  btn-node journal export  [--journal PATH | --state-dir DIR] [--out FILE]
  btn-node journal import  FILE [--journal PATH | --state-dir DIR]
The journal is PATH, else DIR/${JOURNAL_FILE}; DIR defaults to $BTN_STATE_DIR, then ${DEFAULT_STATE_DIR}.
inspect  finalized height, entries (the last N, default 20), a torn tail; read-only, also
         while the node runs
export   the journal as interchange JSON (stdout, or FILE written atomically); read-only
import   adds the entries of an export; refused while a node runs on the journal. It never
         lowers the finalized height nor changes a recorded entry: an entry naming another block
         for a recorded (height, clerk) refuses the whole file and nothing is written.
There is no reset: the journal is the node's promise never to seal two blocks for one
(height, clerk), and an empty one would break it. A damaged journal is replaced by importing an
export (a backup, or one rebuilt from the clerks' records) into a fresh file.`;

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1_000_000;

export interface JournalCommandIo {
  readonly out?: (text: string) => void;
  readonly err?: (text: string) => void;
}

const TARGET = { journal: { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export async function journalCommand(argv: readonly string[], io: JournalCommandIo = {}): Promise<number> {
  const out = io.out ?? ((t: string) => void process.stdout.write(t));
  const err = io.err ?? ((t: string) => void process.stderr.write(t));
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    out(USAGE + '\n');
    return 0;
  }
  if (sub === 'inspect') {
    const v = parse(rest, { ...TARGET, limit: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
    if (v.help) return help(out);
    const limit = v.limit === undefined ? DEFAULT_LIMIT : parseLimit(v.limit);
    const view = await readJournalView(journalPath(v));
    out(v.json ? JSON.stringify(inspectReport(view, limit), null, 2) + '\n' : describeView(view, limit));
    return 0;
  }
  if (sub === 'export') {
    const v = parse(rest, { ...TARGET, out: { type: 'string' } }, USAGE);
    if (v.help) return help(out);
    const path = journalPath(v);
    if (v.out !== undefined && isJournalFile(v.out, path)) throw new UsageError(`--out ${v.out} would overwrite the journal or its lock\n${USAGE}`);
    const view = await readJournalView(path);
    const doc = exportSlots(view.slots);
    const text = interchangeText(doc, path);
    if (view.lock?.state === 'held') err(`btn-node journal export: a node (pid ${view.lock.pid}) is running on ${path}: this export is a snapshot; stop the node first when moving the journal\n`);
    if (v.out === undefined) {
      out(text);
      return 0;
    }
    await writeFileAtomic(v.out, text);
    out(`exported ${doc.entries.length} entries (${doc.entries.filter((e) => e.seal !== null).length} sealed), finalized height ${doc.finalizedHeight}, from ${path} to ${v.out}\n`);
    return 0;
  }
  if (sub === 'import') {
    const { values: v, operands } = parseWithOperands(rest, TARGET, ['FILE'], USAGE);
    if (v.help) return help(out);
    return importFile(operands[0]!, journalPath(v), out);
  }
  throw new UsageError(sub === undefined ? USAGE : `unknown journal command "${sub.slice(0, 40)}"\n${USAGE}`);
}

function help(out: (t: string) => void): number {
  out(USAGE + '\n');
  return 0;
}

function journalPath(v: { readonly journal?: string | undefined; readonly 'state-dir'?: string | undefined }): string {
  if (v.journal !== undefined && v['state-dir'] !== undefined) throw new UsageError(`give --journal or --state-dir, not both\n${USAGE}`);
  if (v.journal === '' || v['state-dir'] === '') throw new UsageError(`--journal and --state-dir must not be empty\n${USAGE}`);
  if (v.journal !== undefined) return v.journal;
  const dir = v['state-dir'] ?? (process.env['BTN_STATE_DIR'] || DEFAULT_STATE_DIR);
  return resolve(dir, JOURNAL_FILE);
}

function parseLimit(text: string): number {
  const n = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  if (!(n <= MAX_LIMIT)) throw new UsageError(`--limit must be an integer in 0..${MAX_LIMIT}, got "${text.slice(0, 40)}"\n${USAGE}`);
  return n;
}

function isJournalFile(out: string, journal: string): boolean {
  const o = resolve(out);
  const j = resolve(journal);
  return o === j || o === `${j}.lock` || o === `${j}.tmp`;
}

/** One entry per line: a person can read and diff it; JSON all the same. */
function interchangeText(doc: JournalExport, path: string): string {
  const lines = doc.entries.map((e) => JSON.stringify(e));
  const text = `{"version":${doc.version},"finalizedHeight":${doc.finalizedHeight},"entries":[${lines.length === 0 ? '' : `\n${lines.join(',\n')}\n`}]}\n`;
  // An export the import would refuse helps nobody; say so now, not on the day it is needed.
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_INTERCHANGE_BYTES || doc.entries.length > MAX_INTERCHANGE_ENTRIES) {
    throw new SealingError('ERR_JOURNAL_EXPORT_TOO_LARGE', `seal journal ${path} exports to ${bytes} bytes and ${doc.entries.length} entries, more than an import takes (${MAX_INTERCHANGE_BYTES} bytes, ${MAX_INTERCHANGE_ENTRIES} entries)`, { file: path, bytes, entries: doc.entries.length });
  }
  return text;
}

async function importFile(file: string, path: string, out: (t: string) => void): Promise<number> {
  // Checked in full before the journal is touched: a bad file changes nothing, creates nothing.
  const doc = await readInterchangeFile(file);
  // What opening will cut (a torn last record), said here because opening does it quietly.
  const before = await readJournalView(path).catch((e: unknown) => {
    if ((e as { code?: unknown }).code === 'ERR_JOURNAL_NOT_FOUND') return null;
    throw e;
  });
  let journal;
  try {
    // No space reserved: a refused import leaves the file byte for byte as it was.
    journal = await openSealJournal(path, { preallocateBytes: 0 });
  } catch (e) {
    if (e instanceof SealingError && e.code === 'ERR_JOURNAL_LOCKED') {
      const owner = e.detail['owner'] as { pid?: number; host?: string } | null;
      throw new SealingError('ERR_JOURNAL_LOCKED', `a node is running on ${path} (${owner ? `pid ${owner.pid} on ${owner.host}` : 'its lock file is unreadable'}): stop it first (systemctl stop btn-node), then import again; nothing was changed`, e.detail);
    }
    throw e;
  }
  try {
    const was = journal.finalizedHeight;
    const r = await journal.import(doc, { onlyAdd: true });
    const cut = before?.torn ? `; a torn last record at byte ${before.torn.offset} was cut first, as the node's start does` : '';
    out(`imported ${file} into ${path}: ${r.added} decisions and ${r.sealsAdded} seals added, finalized height ${r.finalizedHeight}${r.finalizedHeight === was ? ' (unchanged)' : ` (was ${was})`}${cut}\n`);
    return 0;
  } finally {
    await journal.close();
  }
}
