// Open-file-description locks (fcntl F_OFD_SETLK / F_OFD_GETLK, Linux 3.15 and later), called
// through koffi because Node has neither flock nor fcntl. An OFD lock belongs to one open()
// of a file, not to a process: two open()s conflict even inside one process, and the kernel
// drops the lock when the last descriptor of that open() closes, which a dying process always
// does. Node opens every file with O_CLOEXEC, so no child process inherits a lock.
import { createRequire } from 'node:module';

/** Linux <fcntl.h>: the same numbers on every architecture. */
const F_OFD_GETLK = 36;
const F_OFD_SETLK = 37;
const F_WRLCK = 1;
const F_UNLCK = 2;
const SEEK_SET = 0;
const EACCES = 13;
const EAGAIN = 11;

type KoffiFn = (...args: unknown[]) => unknown;
interface Koffi {
  load(path: string | null): { func(prototype: string): KoffiFn };
  struct(name: string, fields: Record<string, string>): unknown;
  sizeof(type: unknown): number;
  encode(ref: Uint8Array, type: unknown, value: unknown): void;
  decode(ref: Uint8Array, type: unknown): Record<string, unknown>;
  errno(): number;
}

interface Libc {
  readonly koffi: Koffi;
  readonly fcntl: KoffiFn;
  readonly flock: unknown;
}

/** A failed fcntl, with its errno (EINVAL: a kernel before 3.15; ENOLCK: a file system without locks). */
export class OsLockError extends Error {
  override readonly name = 'OsLockError';
  constructor(message: string, readonly errno: number) {
    super(message);
  }
}

let libc: Libc | null = null;

function load(): Libc {
  if (libc !== null) return libc;
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (err) {
    throw new OsLockError(`cannot load koffi for file locks: ${(err as Error).message}`, 0);
  }
  // glibc names itself libc.so.6; elsewhere (musl) the process's own symbols hold fcntl.
  let lib: ReturnType<Koffi['load']>;
  try {
    lib = koffi.load('libc.so.6');
  } catch {
    lib = koffi.load(null);
  }
  // fcntl64 takes the 64-bit struct flock on 32-bit glibc too; musl and 64-bit systems have fcntl only or alike.
  let fcntl: KoffiFn;
  try {
    fcntl = lib.func('int fcntl64(int fd, int cmd, ...)');
  } catch {
    fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  }
  // struct flock64 (= struct flock where off_t is 64 bits); koffi lays it out for this ABI.
  const flock = koffi.struct('btn_flock64', { l_type: 'short', l_whence: 'short', l_start: 'int64_t', l_len: 'int64_t', l_pid: 'int' });
  libc = { koffi, fcntl, flock };
  return libc;
}

/** A whole-file write lock request (l_start 0, l_len 0: to the end, however the file grows). */
function request(c: Libc): Buffer {
  const buf = Buffer.alloc(c.koffi.sizeof(c.flock));
  c.koffi.encode(buf, c.flock, { l_type: F_WRLCK, l_whence: SEEK_SET, l_start: 0, l_len: 0, l_pid: 0 });
  return buf;
}

function call(c: Libc, fd: number, cmd: number, buf: Buffer): number {
  const rc = c.fcntl(fd, cmd, 'void *', buf) as number;
  return rc === -1 ? c.koffi.errno() : 0;
}

/** Takes the exclusive lock on `fd` (opened for writing) without waiting: false when another open() holds it. */
export function tryLockFd(fd: number): boolean {
  const c = load();
  const errno = call(c, fd, F_OFD_SETLK, request(c));
  if (errno === 0) return true;
  if (errno === EAGAIN || errno === EACCES) return false;
  throw new OsLockError(`fcntl(F_OFD_SETLK) failed with errno ${errno}${describe(errno)}`, errno);
}

/** Whether another open() of the file holds a lock that would refuse ours; takes nothing. */
export function isLockedFd(fd: number): boolean {
  const c = load();
  const buf = request(c);
  const errno = call(c, fd, F_OFD_GETLK, buf);
  if (errno !== 0) throw new OsLockError(`fcntl(F_OFD_GETLK) failed with errno ${errno}${describe(errno)}`, errno);
  return c.koffi.decode(buf, c.flock)['l_type'] !== F_UNLCK;
}

function describe(errno: number): string {
  if (errno === 22) return ' (EINVAL: OFD locks need Linux 3.15 or later)';
  if (errno === 37) return ' (ENOLCK: this file system offers no locks, or its lock daemon is not running)';
  if (errno === 9) return ' (EBADF: the file is not open for writing)';
  return '';
}
