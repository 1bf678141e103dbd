// Reading a file that holds a secret (a private key, an operator token, a broker password): it
// must be a regular file of bounded size that only its owner can read or write. A key left 0644
// by a copy or an unpacked archive is refused with what to do, not used; so is a token others
// could rewrite.
import { open } from 'node:fs/promises';
import { CodedError } from './errors.ts';

export class PrivateFileError extends CodedError<'ERR_PRIVATE_FILE'> {
  override readonly name = 'PrivateFileError';
}

/** The file's text; refused when it is not a regular file, larger than maxBytes, or open to group or others (any of mode 0o077). */
export async function readPrivateFile(path: string, o: { readonly what: string; readonly maxBytes: number }): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new PrivateFileError('ERR_PRIVATE_FILE', `cannot read ${o.what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { path });
  }
  try {
    // One open file for the checks and the read: nothing can swap the file in between.
    const st = await handle.stat();
    if (!st.isFile()) throw new PrivateFileError('ERR_PRIVATE_FILE', `${o.what} ${path} is not a regular file`, { path });
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new PrivateFileError('ERR_PRIVATE_FILE', `${o.what} ${path} is open to group or others (mode ${mode}); make it the owner's alone: chmod 600 ${path}`, { path, mode });
    }
    if (st.size > o.maxBytes) throw new PrivateFileError('ERR_PRIVATE_FILE', `${o.what} ${path} is ${st.size} bytes, at most ${o.maxBytes}`, { path });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
