// Argument parsing shared by btn-node's commands: node:util parseArgs, strict, bounded.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CodedError } from './errors.ts';

export class UsageError extends CodedError<'ERR_USAGE'> {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

const MAX_ARG_LENGTH = 4096;

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: T,
  usage: string,
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: false; strict: true }>>['values'] {
  checkLengths(argv, usage);
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${usage}`);
  }
}

/** parse() for a command that also takes operands: exactly `names.length` of them, in that order. */
export function parseWithOperands<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: T,
  names: readonly string[],
  usage: string,
): { values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>['values']; operands: string[] } {
  checkLengths(argv, usage);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${usage}`);
  }
  const help = (parsed.values as Record<string, unknown>)['help'] === true;
  if (!help && parsed.positionals.length < names.length) throw new UsageError(`${names[parsed.positionals.length]} is required\n${usage}`);
  if (parsed.positionals.length > names.length) throw new UsageError(`unexpected argument "${parsed.positionals[names.length]!.slice(0, 40)}"\n${usage}`);
  return { values: parsed.values, operands: parsed.positionals };
}

function checkLengths(argv: readonly string[], usage: string): void {
  for (const arg of argv) {
    if (arg.length > MAX_ARG_LENGTH) throw new UsageError(`argument of ${arg.length} characters is longer than ${MAX_ARG_LENGTH}\n${usage}`);
  }
}

/** Print one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** The value of a flag that must be given. */
export function required<T>(value: T | undefined, flag: string, usage: string): T {
  if (value === undefined) throw new UsageError(`${flag} is required\n${usage}`);
  return value;
}

/** An optional whole-number option in min..max (fallback when absent); anything else is a UsageError naming it. */
export function boundedInt(value: string | undefined, name: string, range: { readonly min: number; readonly max: number; readonly fallback: number }, usage: string): number {
  if (value === undefined) return range.fallback;
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`--${name} must be a whole number in ${range.min}..${range.max}, got ${JSON.stringify(value.slice(0, 40))}\n${usage}`);
  const n = Number(value);
  if (n < range.min || n > range.max) throw new UsageError(`--${name} must be in ${range.min}..${range.max}, got ${n}\n${usage}`);
  return n;
}
