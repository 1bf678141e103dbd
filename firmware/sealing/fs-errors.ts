// One clear sentence for a file-system failure of the node's state: which path, what is wrong
// in words a household can act on, and the errno. The same
// text goes to the log and to the status page.

/** The errno code of a Node file-system error, or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** True for failures that can end without a restart: full disk, read-only mount, I/O, permissions. */
export function isStorageFault(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' || code === 'EIO' || code === 'EACCES' || code === 'EPERM';
}

/**
 * Describes `err` for `where`. The caller names a stable path (the journal, status.json), not
 * the random temp file that failed, so that each retry says the same sentence.
 */
export function describeFsError(err: unknown, where: string): string {
  const code = errnoOf(err);
  switch (code) {
    case 'ENOSPC': return `disk full: no space left on the file system of ${where} (ENOSPC)`;
    case 'EDQUOT': return `disk quota exceeded writing ${where} (EDQUOT)`;
    case 'EROFS': return `read-only file system: cannot write ${where} (EROFS)`;
    case 'EACCES':
    case 'EPERM': return `permission denied writing ${where} (${code}); the service user must own the state directory`;
    case 'EIO': return `I/O error on ${where} (EIO): the storage may be failing`;
    default: {
      const message = (err as Error | null)?.message ?? String(err);
      return message.includes(where) ? message : `${where}: ${message}`;
    }
  }
}
