// Sockets handed over by systemd (socket activation, sd_listen_fds(3)): bound by a privileged
// manager so that the process using them needs no privilege at all, such as the status page's
// port 80. They start at fd 3; LISTEN_PID says whom they are for (a child that inherited the
// environment is not), LISTEN_FDNAMES names them (FileDescriptorName= of the socket unit).

const SD_LISTEN_FDS_START = 3;
/** More than any unit of ours passes; a larger count is not trusted. */
const MAX_FDS = 64;

/** The fd of the passed socket named `name`, or null when none is passed to this process. */
export function listenFd(name: string, env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | null {
  if (env['LISTEN_PID'] !== String(pid)) return null;
  const count = Number(env['LISTEN_FDS']);
  if (!Number.isInteger(count) || count < 1 || count > MAX_FDS) return null;
  const i = (env['LISTEN_FDNAMES'] ?? '').split(':').indexOf(name);
  return i >= 0 && i < count ? SD_LISTEN_FDS_START + i : null;
}
