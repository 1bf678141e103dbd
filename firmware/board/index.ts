// Board configs: load, validate, find by name.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CodedError } from '../core/errors.ts';
import { validateBoardConfig, type BoardConfig, type FieldProblem } from './schema.ts';

export { validateBoardConfig, type BoardConfig, type BoardValidation, type FieldProblem } from './schema.ts';

export const MAX_BOARD_CONFIG_BYTES = 64 * 1024;

export class BoardConfigError extends CodedError<'ERR_BOARD_CONFIG'> {
  override readonly name = 'BoardConfigError';
  constructor(readonly file: string, readonly problems: readonly FieldProblem[]) {
    super('ERR_BOARD_CONFIG', `${file}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, { file, problems });
  }
}

/** Reads and validates one board config file; throws BoardConfigError naming every problem. */
export async function loadBoardConfig(file: string): Promise<BoardConfig> {
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > MAX_BOARD_CONFIG_BYTES) throw new BoardConfigError(file, [{ field: '(file)', message: `is ${size} bytes, at most ${MAX_BOARD_CONFIG_BYTES}` }]);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof BoardConfigError) throw err;
    throw new BoardConfigError(file, [{ field: '(file)', message: `cannot read: ${(err as Error).message}` }]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BoardConfigError(file, [{ field: '(file)', message: `not valid JSON: ${(err as Error).message}` }]);
  }
  const result = validateBoardConfig(value);
  if (!result.ok) throw new BoardConfigError(file, result.errors);
  return result.config;
}

/** board-configs/<name>.json of this checkout. */
export function boardConfigPath(name: string, root = new URL('../../board-configs/', import.meta.url).pathname): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,39}$/.test(name)) throw new BoardConfigError(name, [{ field: 'name', message: 'not a board name' }]);
  return join(root, `${name}.json`);
}
