// `btn-node update check-health`, once per boot after the agent started: is this node the node it
// was before the update? Read from the status.json the agent of this boot writes: the TPM readable
// with its sealing key, which signed a fresh self-test message at the agent's start, the seal journal open and holding at least what it held before, the
// broker connected, and a node that was active still active under the same node id. Waited for
// up to a deadline; then the booted slot is marked good (and the downgrade floor raised) or, for
// a new slot that is not healthy, marked bad and the device restarted into the old one.
import type { Clock } from '../core/clock.ts';
import { JOURNAL_FAULT_KEY, type NodeStatus } from '../status/index.ts';
import { slotsRecord, type UpdateDeps } from './install.ts';
import type { PendingUpdate, UpdateOutcome } from './state-files.ts';
import { compareVersions } from './version.ts';

export const DEFAULT_HEALTH_DEADLINE_MS = 5 * 60_000;
const POLL_MS = 2000;

export type Health = { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

/** Whether `s` shows a healthy node that is still what `before` recorded (no pending update: nothing to hold it to). */
export function judgeHealth(s: NodeStatus, before: PendingUpdate | null): Health {
  const bad = (reason: string): Health => ({ healthy: false, reason });
  if (s.state !== 'running') return bad(`the agent is ${s.state}, not running`);
  if (s.tpm === null) return bad('the TPM was not readable');
  if (s.tpm.sealingKey === null) return bad('the TPM holds no sealing key');
  if (s.tpm.selfTest?.verified !== true) return bad(`the sealing key did not sign its self-test message${s.tpm.selfTest?.error ? `: ${s.tpm.selfTest.error}` : ''}`);
  const journalFault = s.faults?.find((f) => f.key === JOURNAL_FAULT_KEY);
  if (journalFault !== undefined) return bad(`the seal journal is not open: ${journalFault.message}`);
  if (s.journal === undefined) return bad('the agent does not report its seal journal');
  const was = before?.journal ?? null;
  // Compaction drops old finalized slots, and only when a new block is final: fewer entries are a
  // loss only while the finalized height stands where it stood.
  const compacted = was !== null && s.chain.finalizedHeight > was.finalizedHeight;
  if (was !== null && (s.journal.highestHeight < was.highestHeight || (!compacted && s.journal.entries < was.entries))) {
    return bad(`the seal journal holds ${s.journal.entries} entries up to height ${s.journal.highestHeight}, less than the ${was.entries} up to height ${was.highestHeight} before the update`);
  }
  if (!s.broker.connected) return bad(`the broker is not connected (${s.broker.state}${s.broker.failure ? `: ${s.broker.failure}` : ''}${s.broker.refusal ? `: ${s.broker.refusal}` : ''})`);
  if (before?.activation === 'active') {
    if (s.activation.state !== 'active') return bad(`the node was active and is now ${s.activation.state}${s.activation.reason ? ` (${s.activation.reason})` : ''}`);
    if (before.nodeId !== null && s.nodeId !== before.nodeId) return bad(`the node id changed from ${before.nodeId} to ${s.nodeId}`);
  }
  return { healthy: true };
}

export interface HealthDeps extends UpdateDeps {
  readonly clock: Pick<Clock, 'now' | 'sleep'>;
}

export type HealthResult =
  | { readonly action: 'marked-good'; readonly outcome: UpdateOutcome | null }
  | { readonly action: 'rolled-back'; readonly outcome: UpdateOutcome }
  | { readonly action: 'unhealthy'; readonly reason: string; readonly outcome: UpdateOutcome | null }
  | { readonly action: 'awaiting-reboot' };

export async function checkHealth(deps: HealthDeps, o: { readonly deadlineMs?: number; readonly signal?: AbortSignal } = {}): Promise<HealthResult> {
  const pending = await deps.files.readPending();
  const system = await deps.rauc.status();
  const running = await deps.runningVersion();
  await deps.files.writeSlots(slotsRecord(system, running, deps.now()));
  // Installed during this boot and not restarted yet: nothing to judge.
  if (pending !== null && pending.bootId !== '' && pending.bootId === deps.bootId()) return { action: 'awaiting-reboot' };

  let outcome: UpdateOutcome | null = null;
  if (pending !== null && system.booted === pending.from.slot) {
    // Back in the slot the update came from: the new slot used its tries without being marked
    // good, or the install never finished (RAUC then says the other slot holds something else).
    // The pending record says when `rauc install` returned; RAUC marks a slot "pending" before it
    // writes it and records the version only when done.
    const other = system.slots.find((x) => x.bootname !== null && x.bootname !== system.booted);
    const unfinished = other?.installStatus === 'pending' ? `the install did not finish (slot ${other.bootname} was being written)`
      : pending.installed !== true ? 'the install did not finish'
        : other?.version != null && other.version !== pending.target ? `the install did not finish (the other slot holds ${other.version})`
          : null;
    outcome = unfinished === null ? rolledBack(pending, 'did not boot', deps.now()) : { ...rolledBack(pending, unfinished, deps.now()), kind: 'interrupted' };
    await deps.files.writeOutcome(outcome);
    await deps.files.removePending();
  }
  const newSlot = outcome === null ? pending : null;
  const health = await waitForHealth(deps, newSlot, o.deadlineMs ?? DEFAULT_HEALTH_DEADLINE_MS, o.signal);
  if (health.healthy) {
    await deps.rauc.mark('good');
    if (newSlot === null) return { action: 'marked-good', outcome };
    const floor = await deps.files.readFloor();
    if (floor === null || compareVersions(running, floor) > 0) await deps.files.writeFloor(running);
    const updated: UpdateOutcome = { version: 1, kind: 'updated', text: `updated to ${running}`, target: running, from: newSlot.from.version, at: deps.now() };
    await deps.files.writeOutcome(updated);
    await deps.files.removePending();
    return { action: 'marked-good', outcome: updated };
  }
  // An unhealthy slot nobody updated stays: restarting into the other one would not help.
  if (newSlot === null) return { action: 'unhealthy', reason: health.reason, outcome };
  const back = rolledBack(newSlot, health.reason, deps.now());
  await deps.files.writeOutcome(back);
  await deps.rauc.mark('bad');
  await deps.files.removePending();
  await deps.reboot();
  return { action: 'rolled-back', outcome: back };
}

function rolledBack(p: PendingUpdate, reason: string, at: number): UpdateOutcome {
  return { version: 1, kind: 'rolled-back', text: `rolled back from ${p.target}: ${reason}`, target: p.target, from: p.from.version, at };
}

/** Polls status.json until healthy or the deadline; a status from before this boot's agent does not count. */
async function waitForHealth(deps: HealthDeps, before: PendingUpdate | null, deadlineMs: number, signal?: AbortSignal): Promise<Health> {
  const start = deps.clock.now();
  let last: Health = { healthy: false, reason: 'the agent wrote no status since this boot' };
  const read = async (): Promise<NodeStatus | null> => {
    try {
      return await deps.readStatus();
    } catch (err) {
      last = { healthy: false, reason: `its status is unreadable: ${(err as Error).message}` };
      return null;
    }
  };
  // The file outlives reboots: the one found now may be the old agent's, so wait for a newer write.
  const first = await read();
  for (;;) {
    const s = await read();
    if (s !== null && (first === null || s.updatedAt !== first.updatedAt || s.pid !== first.pid)) {
      last = judgeHealth(s, before);
      if (last.healthy) return last;
    }
    if (deps.clock.now() - start >= deadlineMs || signal?.aborted) {
      return { healthy: false, reason: `${last.reason} (after ${Math.round(deadlineMs / 1000)} s)` };
    }
    await deps.clock.sleep(POLL_MS, signal);
  }
}
