// The servers of the HTTP benchmarks, each a process of its own beside wrk and the bench: the
// registrar as a server runs it (the esbuild bundle under plain node, `btn-provision serve`), and
// a bare node:http server that answers each path with fixed bytes after reading the request
// body (the floor: what node:http alone costs on this machine for the same exchange).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';

// USER_HZ: 100 on Linux everywhere this runs (getconf CLK_TCK)
const CLOCK_TICKS = 100;

export interface ServerProcess {
  readonly url: string;
  /** CPU seconds (user + system, all its threads) the process has used so far; Linux /proc. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/** Spawns node with args; resolves once a stdout line yields the URL (via `urlOf`), else rejects. */
async function spawnServer(args: readonly string[], urlOf: (line: string) => string | null, env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-2000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s: ${stderr}`)), 60_000);
    lines.on('line', (line) => {
      const u = urlOf(line);
      if (u === null) return;
      clearTimeout(timer);
      resolve(u);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${child.exitCode}: ${stderr}`));
    });
  });
  // Keep draining its log so a full pipe never blocks it.
  child.stdout!.resume();
  return {
    url,
    cpuSeconds: async () => {
      // fields 14 and 15 of /proc/PID/stat, after the ")" that ends the command name
      const fields = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(')').pop()!.trim().split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export function startRegistrarProcess(bundle: string, o: { db: string; rootKeyFile: string; trustDir: string }): Promise<ServerProcess> {
  // BTN_BENCH_CPU_PROF=DIR: the registrar writes a V8 CPU profile there when it stops (SIGTERM ends it cleanly).
  const prof = process.env['BTN_BENCH_CPU_PROF'];
  const profArgs = prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', prof];
  return spawnServer([...profArgs, bundle, 'serve', '--db', o.db, '--port', '0', '--root-key', o.rootKeyFile, '--trust', o.trustDir], (line) => {
    if (!line.includes('registrar listening')) return null;
    return (JSON.parse(line) as { url: string }).url;
  });
}

const BARE = `
const { createServer } = require('node:http');
const bodies = JSON.parse(process.env.BTN_BARE_BODIES);
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = bodies[req.url] ?? '{}';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => console.log('listening http://127.0.0.1:' + server.address().port));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** A bare node:http server answering each path of `bodies` with its bytes (status 200). */
export function startBareServer(bodies: Readonly<Record<string, string>>): Promise<ServerProcess> {
  return spawnServer(['-e', BARE], (line) => /^listening (\S+)$/.exec(line)?.[1] ?? null, { ...process.env, BTN_BARE_BODIES: JSON.stringify(bodies) });
}
