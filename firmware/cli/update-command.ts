// btn-node update install|check-health|apply-request: the device's side of signed A/B updates (firmware/update).
import { resolve } from 'node:path';
import { parse, parseWithOperands, UsageError } from '../core/cli-args.ts';
import { installFromUrl, isBundleUrl } from '../update/install-url.ts';
import { applyRequest, checkHealth, DEFAULT_HEALTH_DEADLINE_MS, installUpdate, readRequest, systemUpdateDeps, type HealthDeps } from '../update/index.ts';
import { DEFAULT_STATE_DIR } from './run-config.ts';

const MAX_DEADLINE_S = 3600;
/** The device's setting (btn-node.txt UPDATE_HEALTH_SECONDS, through btn-node-health.service's environment). */
const HEALTH_ENV = 'BTN_UPDATE_HEALTH_SECONDS';
// A slot must get its agent up, its TPM read and its broker connected: less than half a minute
// would roll back a sound update on a slow boot.
const MIN_ENV_DEADLINE_S = 30;

const USAGE = `usage:
  btn-node update install FILE|URL [--force] [--reboot] [--state-dir DIR] [--conf SYSTEM.CONF]
  btn-node update check-health [--deadline SECONDS] [--state-dir DIR] [--conf SYSTEM.CONF]
  btn-node update apply-request [--no-reboot] [--state-dir DIR] [--conf SYSTEM.CONF]
install       checks a RAUC bundle (a file, or an http(s) URL downloaded into DIR first, as
              large as the data partition has room for) and installs it into the other root slot, which the boot
              loader then tries next. Refused, with the reason: a bundle RAUC refuses (unsigned,
              signed by another key, tampered: RAUC's message), one for another board, one older
              than the running version or than the oldest version this device accepts (the
              version it last ran healthy after an update). --force installs an older version
              anyway; nothing overrides the signature or the board. Before installing, what the
              node is now (version, slot, node id, activation, the seal journal's entries) goes
              to DIR/update-pending.json, which the next boot's health check holds the new slot
              to. --reboot restarts into it at once.
check-health  run once per boot after the agent started (btn-node-health.service): waits up to
              SECONDS (default: $${HEALTH_ENV} in ${MIN_ENV_DEADLINE_S}..${MAX_DEADLINE_S}, which UPDATE_HEALTH_SECONDS
              in btn-node.txt sets on a device; else ${DEFAULT_HEALTH_DEADLINE_MS / 1000}) for the agent to be healthy: the TPM readable, the seal
              journal open with at least the entries it held before, the broker connected, an
              active node still active with the same node id. Healthy: the slot is marked good
              (after an update also the new oldest accepted version) and DIR/update-outcome.json
              says "updated to X". A new slot not healthy by then is marked bad and the device
              restarts into the old one ("rolled back from X: the reason"); back in the old slot
              without the new one ever marked good: "rolled back from X: did not boot".
apply-request root's side of an update the network announced (btn-node-update.path): the agent
              checked the root-signed announcement, downloaded the bundle into
              DIR/update-download and asked in DIR/update-request.json; the file's SHA-256 is
              checked again, then it is installed as by install (without --force) and the
              device restarts into it. A refusal goes to DIR/update-outcome.json.
DIR defaults to $BTN_STATE_DIR, then ${DEFAULT_STATE_DIR}; SYSTEM.CONF to RAUC's (/etc/rauc/system.conf),
whose keyring checks the bundle's signature.`;

const COMMON = { 'state-dir': { type: 'string' }, conf: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export interface UpdateCommandIo {
  readonly out?: (text: string) => void;
  /** Warnings (default stderr). */
  readonly err?: (text: string) => void;
  /** The device's side effects (tests); built from the flags otherwise. */
  readonly deps?: (o: { readonly stateDir: string; readonly raucConf?: string }) => HealthDeps;
}

export async function updateCommand(argv: readonly string[], io: UpdateCommandIo = {}): Promise<number> {
  const out = io.out ?? ((t: string) => void process.stdout.write(t));
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    out(USAGE + '\n');
    return sub === undefined ? 2 : 0;
  }
  const stateDirOf = (v: { readonly 'state-dir'?: string | undefined }): string => resolve(v['state-dir'] ?? (process.env['BTN_STATE_DIR'] || DEFAULT_STATE_DIR));
  const depsOf = (v: { readonly 'state-dir'?: string | undefined; readonly conf?: string | undefined }): HealthDeps => {
    if (v['state-dir'] === '' || v.conf === '') throw new UsageError(`--state-dir and --conf must not be empty\n${USAGE}`);
    const stateDir = stateDirOf(v);
    const o = { stateDir, ...(v.conf === undefined ? {} : { raucConf: v.conf }) };
    return (io.deps ?? systemUpdateDeps)(o);
  };
  if (sub === 'install') {
    const { values: v, operands } = parseWithOperands(rest, { ...COMMON, force: { type: 'boolean' }, reboot: { type: 'boolean' } }, ['FILE'], USAGE);
    if (v.help) return help(out);
    const what = operands[0]!;
    const opts = { force: v.force === true, reboot: v.reboot === true };
    const done = isBundleUrl(what) ? await installFromUrl(depsOf(v), stateDirOf(v), what, opts) : await installUpdate(depsOf(v), { file: what, ...opts });
    const forced = done.forced.length === 0 ? '' : ` (forced: ${done.forced.join(', ')})`;
    out(`installed ${done.target} into the other slot${forced}; slot ${done.from.slot} runs ${done.from.version} until ${v.reboot ? 'the restart now' : 'the next restart'}\n`);
    return 0;
  }
  if (sub === 'apply-request') {
    const v = parse(rest, { ...COMMON, 'no-reboot': { type: 'boolean' } }, USAGE);
    if (v.help) return help(out);
    const deps = depsOf(v);
    const stateDir = stateDirOf(v);
    const asked = await readRequest(stateDir).catch(() => null);
    try {
      const done = await applyRequest(deps, stateDir, { reboot: v['no-reboot'] !== true });
      out(done === null ? 'no update requested\n' : `installed ${done.target} into the other slot; restarting into it\n`);
      return 0;
    } catch (err) {
      const reason = (err as Error).message;
      if (asked !== null) {
        const running = await deps.runningVersion().catch(() => asked.target);
        await deps.files.writeOutcome({ version: 1, kind: 'refused', text: `update to ${asked.target} not installed: ${reason}`.slice(0, 1000), target: asked.target, from: running, at: deps.now() });
      }
      throw err;
    }
  }
  if (sub === 'check-health') {
    const v = parse(rest, { ...COMMON, deadline: { type: 'string' } }, USAGE);
    if (v.help) return help(out);
    const result = await checkHealth(depsOf(v), { deadlineMs: v.deadline === undefined ? envDeadlineMs(io.err) : deadlineS(v.deadline) * 1000 });
    switch (result.action) {
      case 'awaiting-reboot':
        out('an update was installed during this boot: nothing to check until the restart\n');
        return 0;
      case 'marked-good':
        out(`healthy: slot marked good${result.outcome ? `; ${result.outcome.text}` : ''}\n`);
        return 0;
      case 'unhealthy':
        out(`${result.outcome ? `${result.outcome.text}; ` : ''}not healthy, slot not marked good: ${result.reason}\n`);
        return 1;
      case 'rolled-back':
        out(`${result.outcome.text}; slot marked bad, restarting into the other one\n`);
        return 1;
    }
  }
  throw new UsageError(`unknown update command "${sub.slice(0, 40)}"\n${USAGE}`);
}

function help(out: (t: string) => void): number {
  out(USAGE + '\n');
  return 0;
}

/** A wrong setting is said, and the check still runs on the default: a check that does not run never keeps or rolls back a slot. */
function envDeadlineMs(err: (text: string) => void = (t) => void process.stderr.write(t)): number {
  try {
    return settingDeadlineMs(process.env[HEALTH_ENV]);
  } catch (e) {
    err(`${(e as Error).message}; waiting the default ${DEFAULT_HEALTH_DEADLINE_MS / 1000} s\n`);
    return DEFAULT_HEALTH_DEADLINE_MS;
  }
}

/** The deadline the device's setting asks for; unset or empty: the default. */
export function settingDeadlineMs(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_HEALTH_DEADLINE_MS;
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(n >= MIN_ENV_DEADLINE_S && n <= MAX_DEADLINE_S)) {
    throw new UsageError(`${HEALTH_ENV} (UPDATE_HEALTH_SECONDS in btn-node.txt) must be whole seconds in ${MIN_ENV_DEADLINE_S}..${MAX_DEADLINE_S}, got "${text.slice(0, 40)}"`);
  }
  return n * 1000;
}

function deadlineS(text: string): number {
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_DEADLINE_S)) throw new UsageError(`--deadline must be whole seconds in 1..${MAX_DEADLINE_S}, got "${text.slice(0, 40)}"\n${USAGE}`);
  return n;
}
