// A secret's file is read only when it is the owner's alone, a regular file and small.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateFileError, readPrivateFile } from '../../../firmware/core/private-file.ts';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'btn-private-file-')); });
afterAll(async () => rm(dir, { recursive: true, force: true }));

const read = (name: string, maxBytes = 64): Promise<string> => readPrivateFile(join(dir, name), { what: 'token file', maxBytes });
const refusal = (p: Promise<unknown>): Promise<unknown> => p.then(() => 'read', (e: unknown) => e);

describe('readPrivateFile', () => {
  it('reads a 0600 or 0400 file', async () => {
    await writeFile(join(dir, 'ok'), 'secret', { mode: 0o600 });
    expect(await read('ok')).toBe('secret');
    await chmod(join(dir, 'ok'), 0o400);
    expect(await read('ok')).toBe('secret');
  });

  it('refuses any group or other bit, naming the mode and the chmod to run', async () => {
    for (const mode of [0o640, 0o604, 0o620, 0o602, 0o644, 0o666]) {
      await writeFile(join(dir, 'open'), 'secret');
      await chmod(join(dir, 'open'), mode);
      const err = await refusal(read('open'));
      expect(err).toBeInstanceOf(PrivateFileError);
      expect((err as Error).message).toBe(`token file ${join(dir, 'open')} is open to group or others (mode 0${mode.toString(8)}); make it the owner's alone: chmod 600 ${join(dir, 'open')}`);
    }
  });

  it('refuses a missing file, a directory and an oversize file, each in words', async () => {
    expect(((await refusal(read('none'))) as Error).message).toMatch(/^cannot read token file .*none: ENOENT$/);
    await mkdir(join(dir, 'd'), { mode: 0o700 });
    expect(((await refusal(read('d'))) as Error).message).toMatch(/is not a regular file$/);
    await writeFile(join(dir, 'big'), 'x'.repeat(65), { mode: 0o600 });
    expect(((await refusal(read('big'))) as Error).message).toMatch(/is 65 bytes, at most 64$/);
  });
});
