// btn-node status [--state-dir DIR] [--json]: what a household wants to know about its node,
// read from the status.json the running agent writes every few seconds.
import { readStatusFile, softwareText, type NodeStatus, type Software } from '../status/index.ts';
import { readSoftware, softwareKnown } from '../update/index.ts';
import { parse, printJson } from '../core/cli-args.ts';
import { DEFAULT_STATE_DIR } from './run-command.ts';
import { processAlive } from '../core/process.ts';

const USAGE = `usage: btn-node status [--state-dir DIR] [--json]
  --state-dir DIR  the agent's state directory (default $BTN_STATE_DIR, then ${DEFAULT_STATE_DIR})
  --json           print the full status as JSON`;

/** A status older than this (while "running") means the agent stopped without saying so. */
const STALE_MS = 30_000;

export interface StatusCommandDeps {
  readonly out?: (text: string) => void;
  readonly err?: (text: string) => void;
  readonly now?: () => number;
  /** The running version, the other slot's and the last update (default: the device's files). */
  readonly software?: (stateDir: string) => Promise<Software>;
}

export async function statusCommand(argv: readonly string[], deps: StatusCommandDeps = {}): Promise<number> {
  const values = parse(argv, { 'state-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, USAGE);
  const out = deps.out ?? ((t: string) => void process.stdout.write(t));
  const err = deps.err ?? ((t: string) => void process.stderr.write(t));
  if (values.help) {
    out(USAGE + '\n');
    return 0;
  }
  const dir = values['state-dir'] ?? process.env['BTN_STATE_DIR'] ?? DEFAULT_STATE_DIR;
  const read = await readStatusFile(dir);
  const software = await (deps.software ?? readSoftware)(dir);
  const status = read === null || !softwareKnown(software) ? read : { ...read, software };
  if (status === null) {
    err(`btn-node status: no agent has written a status in ${dir} (status.json missing); is \`btn-node run\` running with this stateDir?\n`);
    return 1;
  }
  if (values.json) {
    if (deps.out) out(JSON.stringify(status, null, 2) + '\n');
    else printJson(status);
    return 0;
  }
  out(summarize(status, (deps.now ?? Date.now)()));
  return 0;
}

export function summarize(s: NodeStatus, now: number): string {
  const lines: string[] = [];
  const age = now - s.updatedAt;
  let state: string = s.state;
  if (s.state === 'running' && !processAlive(s.pid)) state = `not running (pid ${s.pid} is gone; last update ${ago(age)})`;
  else if (s.state === 'running' && age > STALE_MS) state = `running? (no update for ${ago(age)})`;
  lines.push(`node ${s.nodeId}: ${state}${s.state === 'running' ? `, up ${duration(s.uptimeMs)}` : ''}, updated ${ago(age)}`);
  for (const f of s.faults ?? []) lines.push(`PROBLEM since ${ago(now - f.since)}: ${f.message}`);
  lines.push(`activation: ${s.activation.state}${s.activation.reason ? ` (${s.activation.reason})` : ''}${s.activation.state === 'active' ? '' : ' - this node does not seal'}`);
  lines.push(s.tpm === null
    ? 'TPM: unknown (not read)'
    : `TPM: ${s.tpm.manufacturer} ${s.tpm.vendor} firmware ${s.tpm.firmwareVersion}, sealing key ${s.tpm.sealingKey ? s.tpm.sealingKey.handle : 'missing'}`);
  lines.push(`broker: ${s.broker.connected ? 'connected' : `not connected (${s.broker.state})`}`);
  if (s.software !== undefined) lines.push(`software: ${softwareText(s.software)}${s.software.lastUpdate ? ` (${ago(now - s.software.lastUpdate.at)})` : ''}`);
  lines.push(`chain: height ${s.chain.height}, finalized ${s.chain.finalizedHeight}, params v${s.chain.paramsVersion}`);
  if (s.rootKeys !== undefined) lines.push(`root key${s.rootKeys.length > 1 ? 's' : ''}: ${s.rootKeys.map(rootKeyText).join('; ')}`);
  lines.push(`seals: ${s.seals.made} made, ${s.seals.reused} re-sent, ${s.seals.published} taken by the broker, ${s.seals.notDelivered} not delivered; spinning now: ${s.spinning}`);
  const rejected = Object.entries(s.rejected).filter(([, n]) => n > 0);
  if (rejected.length > 0) lines.push(`candidates not sealed: ${rejected.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const invalid = Object.entries(s.invalidMessages).filter(([, n]) => n > 0);
  if (invalid.length > 0) lines.push(`invalid messages dropped: ${invalid.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const last = s.lastErrors.at(-1);
  if (last) lines.push(`last error (${ago(now - last.at)}): ${last.code} ${last.message}`);
  return lines.join('\n') + '\n';
}

/** A root key and its window: `3f2a... until 2027-03-01T00:00:00.000Z`, `9c1b... from 2026-12-01T00:00:00.000Z`. */
function rootKeyText(k: { readonly publicKey: string; readonly from?: string; readonly until?: string }): string {
  return [k.publicKey, k.from === undefined ? '' : `from ${k.from}`, k.until === undefined ? '' : `until ${k.until}`].filter((t) => t !== '').join(' ');
}

function ago(ms: number): string {
  return `${duration(Math.max(0, ms))} ago`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}
