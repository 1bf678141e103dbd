// Enrolling a list of TPMs (one station, many sockets): list lines `tcti serial board`, '#'
// comments and blank lines allowed. TPMs are enrolled one after another into one batch; a TPM
// that fails is reported and the rest go on, so one bad device does not stop a tray.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { FactoryError } from './errors.ts';
import { checkSerialBoard, enrollDevice, type EnrollResult, type FactoryTpm } from './enroll.ts';
import type { LockOptions } from './batch-lock.ts';
import type { Progress } from './progress.ts';

export interface ListEntry {
  readonly line: number;
  readonly tcti: string;
  readonly serial: string;
  readonly board: string;
}

const MAX_LIST_BYTES = 16 * 1024 * 1024;
const MAX_LIST_ENTRIES = 100_000;
const TCTI = /^[A-Za-z0-9._:/=,@-]{1,512}$/;

export function parseEnrollList(text: string): ListEntry[] {
  const entries: ListEntry[] = [];
  const serials = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.replace(/#.*/, '').trim();
    if (trimmed === '') continue;
    const where = `list line ${i + 1}`;
    const parts = trimmed.split(/\s+/);
    if (parts.length !== 3) throw new FactoryError('ERR_FACTORY_ARGUMENT', `${where}: expected "tcti serial board", got ${parts.length} fields`);
    const [tcti, serial, board] = parts as [string, string, string];
    if (!TCTI.test(tcti)) throw new FactoryError('ERR_FACTORY_ARGUMENT', `${where}: "${tcti.slice(0, 60)}" is not a TCTI string`);
    try {
      checkSerialBoard(serial, board);
    } catch (err) {
      throw new FactoryError('ERR_FACTORY_ARGUMENT', `${where}: ${(err as Error).message}`);
    }
    const seen = serials.get(serial);
    if (seen !== undefined) throw new FactoryError('ERR_FACTORY_ARGUMENT', `${where}: serial "${serial}" is also on list line ${seen}`);
    serials.set(serial, i + 1);
    entries.push({ line: i + 1, tcti, serial, board });
    if (entries.length > MAX_LIST_ENTRIES) throw new FactoryError('ERR_FACTORY_ARGUMENT', `list has more than ${MAX_LIST_ENTRIES} entries`);
  }
  return entries;
}

export async function readEnrollList(path: string): Promise<ListEntry[]> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new FactoryError('ERR_FACTORY_ARGUMENT', `cannot read list ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (buf.length > MAX_LIST_BYTES) throw new FactoryError('ERR_FACTORY_ARGUMENT', `list ${path} is larger than ${MAX_LIST_BYTES} bytes`);
  return parseEnrollList(buf.toString('utf8'));
}

export type ManyResult =
  | ({ readonly listLine: number; readonly ok: true } & EnrollResult)
  | { readonly listLine: number; readonly ok: false; readonly serial: string; readonly tcti: string; readonly error: { code: string; message: string } };

export interface EnrollManyOptions {
  readonly entries: readonly ListEntry[];
  readonly batchPath: string;
  /** Opens the TPM of one entry; the caller's function closes nothing, enrollMany calls close(). */
  readonly openTpm: (tcti: string) => Promise<FactoryTpm & { close(): Promise<void> }>;
  readonly handle?: number;
  readonly lock?: LockOptions;
  readonly progress?: Progress;
  readonly logger?: Logger;
}

export async function enrollMany(options: EnrollManyOptions): Promise<ManyResult[]> {
  const results: ManyResult[] = [];
  for (const entry of options.entries) {
    let result: ManyResult;
    try {
      const tpm = await options.openTpm(entry.tcti).catch((err: unknown) => {
        throw new FactoryError('ERR_FACTORY_TPM', `cannot open the TPM at ${entry.tcti}: ${(err as Error).message}`, { cause: err });
      });
      try {
        const r = await enrollDevice({
          tpm,
          batchPath: options.batchPath,
          serial: entry.serial,
          board: entry.board,
          ...(options.handle === undefined ? {} : { handle: options.handle }),
          ...(options.lock === undefined ? {} : { lock: options.lock }),
          ...(options.logger === undefined ? {} : { logger: options.logger }),
        });
        result = { listLine: entry.line, ok: true, ...r };
      } finally {
        await tpm.close().catch(() => undefined);
      }
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      result = {
        listLine: entry.line,
        ok: false,
        serial: entry.serial,
        tcti: entry.tcti,
        error: { code: typeof e.code === 'string' ? e.code : 'ERR_FACTORY_TPM', message: String(e.message ?? err) },
      };
    }
    results.push(result);
    options.progress?.step(result.ok ? `${entry.serial} ${result.status}` : `${entry.serial} FAILED ${result.error.code}`);
  }
  options.progress?.done();
  return results;
}
