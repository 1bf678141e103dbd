// `btn-provision factory enroll|enroll-many`: the factory station (provisioning/factory/).
// Prints JSON results on stdout, progress and errors on stderr; exit 0 ok, 1 failed, 2 usage.
import { pino } from 'pino';
import { parse, printJson, UsageError } from '../../firmware/core/cli-args.ts';
import { openTpm, parseHandle } from '../../tpm/index.ts';
import { createProgress, enrollDevice, enrollMany, readEnrollList, type ProgressStream } from '../factory/index.ts';

const USAGE = `usage:
  btn-provision factory enroll      --tcti T --batch FILE --serial S --board B [--handle H]
  btn-provision factory enroll-many --list FILE --batch FILE [--handle H]
    list lines: "tcti serial board" ('#' comments); progress on stderr (a bar on a terminal)
--handle: the sealing key's persistent handle (default 0x81000B70).`;

const OPTIONS = {
  tcti: { type: 'string' },
  batch: { type: 'string' },
  serial: { type: 'string' },
  board: { type: 'string' },
  handle: { type: 'string' },
  list: { type: 'string' },
  verbose: { type: 'boolean' },
} as const;

export interface FactoryCommandIo {
  readonly stderr?: ProgressStream;
}

export async function factoryCommand(argv: readonly string[], io: FactoryCommandIo = {}): Promise<number> {
  const stderr: ProgressStream = io.stderr ?? process.stderr;
  const args = argv[0] === 'factory' ? argv.slice(1) : argv;
  const [sub, ...rest] = args;
  try {
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (sub !== 'enroll' && sub !== 'enroll-many') throw new UsageError(`unknown factory command "${String(sub ?? '').slice(0, 40)}"\n${USAGE}`);
    const v = parse(rest, OPTIONS, USAGE);
    const need = (name: keyof typeof OPTIONS): string => {
      const value = v[name];
      if (typeof value !== 'string' || value === '') throw new UsageError(`factory ${sub} needs --${name}\n${USAGE}`);
      return value;
    };
    const handle = v.handle === undefined ? undefined : parseHandle(v.handle);
    const logger = pino({ level: v.verbose === true ? 'info' : 'silent' }, pino.destination(2));
    if (sub === 'enroll') {
      const tcti = need('tcti');
      const batchPath = need('batch');
      const serial = need('serial');
      const board = need('board');
      const tpm = await openTpm({ tcti });
      try {
        printJson(await enrollDevice({ tpm, batchPath, serial, board, logger, ...(handle === undefined ? {} : { handle }) }));
      } finally {
        await tpm.close().catch(() => undefined);
      }
      return 0;
    }
    const batchPath = need('batch');
    const entries = await readEnrollList(need('list'));
    const results = await enrollMany({
      entries,
      batchPath,
      openTpm: (tcti) => openTpm({ tcti }),
      progress: createProgress(entries.length, stderr),
      logger,
      ...(handle === undefined ? {} : { handle }),
    });
    const failed = results.filter((r) => !r.ok);
    printJson({
      batch: batchPath,
      total: results.length,
      added: results.filter((r) => r.ok && r.status === 'added').length,
      alreadyEnrolled: results.filter((r) => r.ok && r.status === 'already-enrolled').length,
      failed: failed.length,
      results,
    });
    for (const f of failed) if (!f.ok) stderr.write(`btn-provision factory: list line ${f.listLine} (${f.serial}): ${f.error.message} [${f.error.code}]\n`);
    return failed.length === 0 ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) {
      stderr.write(`btn-provision factory: ${err.message}\n`);
      return 2;
    }
    const e = err as { code?: unknown; message?: unknown };
    stderr.write(`btn-provision factory: ${String(e.message ?? err)}${typeof e.code === 'string' ? ` [${e.code}]` : ''}\n`);
    return 1;
  }
}
