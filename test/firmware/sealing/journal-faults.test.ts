// The seal journal's side of disk faults (full or read-only): space reserved at open (a full disk shows at
// start), a lock file left behind names nobody who holds it, so a reopen after a fault takes
// it back, and file-system errors read as one clear sentence.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeFsError, isStorageFault } from '../../../firmware/sealing/fs-errors.ts';
import { openSealJournal } from '../../../firmware/sealing/journal.ts';
import { CLERK, hashOf, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: something, write`), { code });

describe('seal journal and disk faults', () => {
  it('reserves 64 KiB at open, once, and keeps records after it', async () => {
    const path = join(dir, 'seal-journal');
    const j = await openSealJournal(path);
    expect((await stat(path)).size).toBe(8 + 64 * 1024);
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('a') });
    await j.close();
    const k = await openSealJournal(path);
    expect((await stat(path)).size).toBe(8 + 64 * 1024); // enough left: no second reserve
    expect(k.export().entries).toHaveLength(1);
    await k.close();
    const none = await openSealJournal(join(dir, 'no-reserve'), { preallocateBytes: 0 });
    expect((await stat(join(dir, 'no-reserve'))).size).toBe(8);
    await none.close();
  });

  it('takes back a lock this process released whose file still names it; refuses one it still holds', async () => {
    const path = join(dir, 'seal-journal');
    const j = await openSealJournal(path);
    const left = await readFile(`${path}.lock`, 'utf8');
    await expect(openSealJournal(path)).rejects.toMatchObject({ code: 'ERR_JOURNAL_LOCKED' });
    await j.close();
    await writeFile(`${path}.lock`, left); // as if clearing the name had failed on a read-only disk
    const k = await openSealJournal(path);
    await k.close();
  });

  it('says what is wrong, where, and the errno', () => {
    expect(describeFsError(errno('ENOSPC'), '/var/lib/btn-node/seal-journal')).toBe('disk full: no space left on the file system of /var/lib/btn-node/seal-journal (ENOSPC)');
    expect(describeFsError(errno('EROFS'), '/s/status.json')).toBe('read-only file system: cannot write /s/status.json (EROFS)');
    expect(describeFsError(errno('EACCES'), '/s/x')).toMatch(/^permission denied writing \/s\/x \(EACCES\); the service user must own/);
    expect(describeFsError(new Error('odd'), '/s/x')).toBe('/s/x: odd');
    expect(isStorageFault(errno('ENOSPC'))).toBe(true);
    expect(isStorageFault(errno('ENOENT'))).toBe(false);
  });
});
