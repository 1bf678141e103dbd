// The command dispatcher shared by `btn-node` and `btn-provision`: usage text, unknown
// commands, and one clear line on stderr for expected failures (never a stack trace).
import { UsageError } from './cli-args.ts';

export type Command = (argv: readonly string[]) => Promise<number>;

export interface CommandEntry {
  readonly summary: string;
  /** Loads the command lazily, so a command's dependencies load only when it runs. */
  readonly run: () => Promise<Command>;
}

export function usageText(program: string, commands: Readonly<Record<string, CommandEntry>>): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 2;
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)} ${c.summary}`);
  return `usage: ${program} <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Runs `argv[0]` from `commands`; resolves to the process exit code. */
export async function dispatch(program: string, commands: Readonly<Record<string, CommandEntry>>, argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usageText(program, commands));
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`${program}: unknown command "${name.slice(0, 40)}"\n${usageText(program, commands)}`);
    return 2;
  }
  try {
    return await (await command.run())(rest);
  } catch (err) {
    return reportError(err, program);
  }
}

const CONFIG_FAULTS = new Set(['ERR_RUN_CONFIG', 'ERR_BOARD_CONFIG', 'ERR_JOURNAL_CORRUPT', 'ERR_JOURNAL_ANCHOR']);

/** Exit 2 for usage errors, 78 for configuration faults, 1 for other typed (ERR_*) errors, 70 (EX_SOFTWARE) for bugs. */
export function reportError(err: unknown, program = 'btn-node'): number {
  const e = err as { code?: string; message?: string; stack?: string };
  if (err instanceof UsageError || e?.code === 'ERR_USAGE') {
    process.stderr.write(`${program}: ${e.message}\n`);
    return 2;
  }
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_')) {
    process.stderr.write(`${program}: ${e.message} [${e.code}]\n`);
    // 78 (EX_CONFIG): restarting cannot fix these; the systemd unit does not restart on it.
    return CONFIG_FAULTS.has(e.code) ? 78 : 1;
  }
  process.stderr.write(`${program}: unexpected error: ${e?.stack ?? String(err)}\n`);
  return 70;
}
