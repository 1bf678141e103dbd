// btn-node config check FILE: validates a board config and names every wrong field.
import { BoardConfigError, loadBoardConfig } from '../board/index.ts';
import { UsageError } from '../core/cli-args.ts';

const USAGE = 'usage: btn-node config check FILE';

export async function configCommand(argv: readonly string[], io: { out?: (t: string) => void; err?: (t: string) => void } = {}): Promise<number> {
  const out = io.out ?? ((t: string) => void process.stdout.write(t));
  const err = io.err ?? ((t: string) => void process.stderr.write(t));
  const [sub, file, ...rest] = argv;
  if (sub !== 'check' || file === undefined || file.startsWith('-') || rest.length > 0) {
    if (sub === '--help' || sub === '-h') {
      out(USAGE + '\n');
      return 0;
    }
    throw new UsageError(USAGE);
  }
  if (file.length > 4096) throw new UsageError(`FILE of ${file.length} characters is longer than 4096\n${USAGE}`);
  try {
    const c = await loadBoardConfig(file);
    out(`${file}: ok: board ${c.name} (${c.arch}, ${c.libc}, ${c.serviceManager}), TCTI ${c.tcti}, Node heap ${c.nodeMaxOldSpaceMb} MiB, memory cap ${c.memoryMaxMb} MiB, telemetry every ${c.telemetryIntervalS} s\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof BoardConfigError)) throw e;
    err(`${file}: ${e.problems.length} problem(s):\n${e.problems.map((p) => `  ${p.field}: ${p.message}`).join('\n')}\n`);
    return 1;
  }
}
