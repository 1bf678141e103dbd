// wrk (Debian's HTTP load generator, a process of its own) for the HTTP benchmarks: requests/s
// and latency percentiles as wrk measures them, read from a JSON line the Lua done() prints.
// POST bodies come from a file, one body a line: cycled for a fixed time, or each sent once: when
// they are used up the thread stops (requests written after that are never counted) and sends
// wrk the SIGINT that ends its run, so the duration wrk divides by is the time they took.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rate: number;
  /** Responses with a status above 399 (wrk's errors.status). */
  readonly failed: number;
  /** Socket errors and timeouts. */
  readonly socketErrors: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface WrkLoad {
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  /** POST each line of this file as a JSON body to url. */
  readonly bodies?: string;
  /** With bodies: send each once and stop (else cycle them until `seconds`). */
  readonly once?: boolean;
}

export async function wrkInstalled(): Promise<boolean> {
  // wrk --version prints its banner and exits with 1.
  return execFileAsync('wrk', ['--version']).then(() => true, (err: { stdout?: string }) => (err.stdout ?? '').includes('wrk'));
}

const DONE = `
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BTN-WRK {"requests":%d,"us":%d,"status":%d,"socket":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

const BODIES = `
local ffi = require('ffi')
ffi.cdef('int getpid(void); int kill(int pid, int sig);')
local reqs, i, once, stopped = {}, 0, false, false
function init(args)
  once = args[2] == 'once'
  local headers = { ['content-type'] = 'application/json' }
  for line in io.lines(args[1]) do reqs[#reqs + 1] = wrk.format('POST', nil, headers, line) end
end
function request()
  i = i + 1
  if i > #reqs then
    if once and not stopped then
      stopped = true
      wrk.thread:stop()
      ffi.C.kill(ffi.C.getpid(), 2)
    end
    i = 1
  end
  return reqs[i]
end
`;

/** Runs wrk -t1 (one thread: the server gets the other core) against load.url; `dir` holds the script. */
export async function runWrk(dir: string, load: WrkLoad): Promise<WrkResult> {
  const script = join(dir, `wrk-${load.bodies === undefined ? 'get' : 'post'}.lua`);
  await writeFile(script, (load.bodies === undefined ? '' : BODIES) + DONE);
  const args = ['-t1', `-c${load.connections}`, `-d${load.seconds}s`, '--timeout', '10s', '-s', script, load.url];
  if (load.bodies !== undefined) args.push('--', load.bodies, load.once === true ? 'once' : 'cycle');
  const { stdout } = await execFileAsync('wrk', args, { timeout: (load.seconds + 60) * 1000, maxBuffer: 1 << 20 });
  const m = /^BTN-WRK (\{.*\})$/m.exec(stdout);
  if (m === null) throw new Error(`wrk printed no result: ${stdout.slice(0, 400)}`);
  const r = JSON.parse(m[1]!) as { requests: number; us: number; status: number; socket: number; p50: number; p90: number; p99: number; max: number };
  const seconds = r.us / 1e6;
  return {
    requests: r.requests, seconds, rate: r.requests / seconds, failed: r.status, socketErrors: r.socket,
    p50Ms: r.p50 / 1000, p90Ms: r.p90 / 1000, p99Ms: r.p99 / 1000, maxMs: r.max / 1000,
  };
}
