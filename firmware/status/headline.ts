// What the household sees first: is the node working, waiting, or does it need a person? One rule
// for the status page's headline and the board's status LED (firmware/led maps it to a blink
// pattern), then the headline in plain words with what to do.
import type { NodeStatus, StatusFault } from './node-status.ts';

/** A seal journal that the disk refuses (full or read-only): the status light asks for a person. */
export const JOURNAL_FAULT_KEY = 'seal journal';
/** A node that holds no network manifest yet: it can check nothing, so it waits. */
export const NETWORK_FAULT_KEY = 'network manifest';
/** Seal records the TPM counter shows lost: it ends by itself at a final block above them. */
export const JOURNAL_ROLLBACK_FAULT_KEY = 'seal journal records';
/** A status.json that cannot be written. */
export const STATUS_FILE_FAULT_KEY = 'status file';

export type HouseholdState = 'working' | 'waiting' | 'needs-you' | 'updating' | 'stopped';

/** The fields of the node's status the state depends on (the LED passes no more than these). */
export interface HouseholdInput {
  readonly state?: NodeStatus['state'];
  readonly activation: Pick<NodeStatus['activation'], 'state'>;
  readonly broker: Pick<NodeStatus['broker'], 'connected'>;
  readonly faults?: readonly Pick<StatusFault, 'key'>[];
  readonly update?: Pick<NonNullable<NodeStatus['update']>, 'state'>;
}

export function householdState(s: HouseholdInput): HouseholdState {
  if (s.state === 'stopped') return 'stopped';
  if (s.activation.state === 'revoked') return 'needs-you';
  if (s.faults?.some((f) => f.key === JOURNAL_FAULT_KEY)) return 'needs-you';
  // Downloading an announced update, or handed to root to install: the device restarts by itself soon.
  if (s.update?.state === 'downloading' || s.update?.state === 'requested') return 'updating';
  if (s.faults?.some((f) => f.key === NETWORK_FAULT_KEY)) return 'waiting';
  if (s.activation.state === 'active' && s.broker.connected && s.state === 'running') return 'working';
  return 'waiting';
}

export interface Headline {
  readonly state: HouseholdState;
  /** "Working: tested 1,204 blocks today, sealed 3". */
  readonly title: string;
  /** What the node is doing or what is wrong. */
  readonly detail: string;
  /** What to do, in words; '' when nothing is asked. */
  readonly action: string;
}

const number = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, one: string, many: string): string => `${number(n)} ${n === 1 ? one : many}`;

/** The headline for `s`; `today` counts the candidates tested and seals made since local midnight. */
export function headlineOf(s: NodeStatus, today: { readonly tested: number; readonly sealed: number }): Headline {
  const state = householdState(s);
  const faults = s.faults ?? [];
  const tally = `tested ${plural(today.tested, 'block', 'blocks')} today, sealed ${number(today.sealed)}`;
  switch (state) {
    case 'stopped':
      return { state, title: 'Stopped', detail: 'The node is not running.', action: 'Start the btn-node service again, or restart the device.' };
    case 'working': {
      const lost = faults.find((f) => f.key === JOURNAL_ROLLBACK_FAULT_KEY);
      const detail = lost !== undefined ? lost.message
        : s.spinning > 0 ? 'Spinning for a seal on a block now.' : 'Connected to the network; waiting for the next block.';
      return { state, title: `Working: ${tally}`, detail, action: '' };
    }
    case 'needs-you': {
      if (s.activation.state === 'revoked') {
        return { state, title: 'Needs you: the network has revoked this device', detail: s.activation.reason ?? 'No reason given.', action: 'Ask the network\'s operator why; the device will not seal again until it is registered anew.' };
      }
      const disk = faults.find((f) => f.key === JOURNAL_FAULT_KEY);
      return {
        state, title: 'Needs you: the memory card cannot be written', detail: disk?.message ?? '',
        action: 'Free space on the memory card, or replace it if it has turned read-only. The node resumes by itself.',
      };
    }
    case 'waiting':
      return waiting(s, faults, tally);
    case 'updating': {
      const version = s.update?.version ?? 'a new version';
      return s.update?.state === 'requested'
        ? { state, title: `Updating to ${version}`, detail: 'Installing it into the other system slot; the device restarts by itself and checks it is the same node before keeping it.', action: 'Leave the device plugged in.' }
        : { state, title: `Updating to ${version}`, detail: 'Downloading the update the network announced (signed by its root); sealing goes on meanwhile.', action: '' };
    }
  }
}

function waiting(s: NodeStatus, faults: readonly StatusFault[], tally: string): Headline {
  const state = 'waiting';
  const tpm = faults.find((f) => f.key.startsWith('TPM'));
  if (s.tpm === null || tpm !== undefined) {
    return { state, title: 'Waiting for the TPM chip', detail: tpm?.message ?? 'The TPM was not found.', action: 'If this lasts, check that the TPM module sits firmly on its header, then restart the device.' };
  }
  if (s.broker.refused !== undefined && s.broker.refused > 0 && !s.broker.connected) {
    return { state, title: 'Waiting for the network: the broker refuses this device', detail: s.broker.refusal ?? '', action: 'If this lasts, ask the network\'s operator whether this device is registered.' };
  }
  if (faults.some((f) => f.key === NETWORK_FAULT_KEY)) {
    return { state, title: 'Waiting for the network', detail: 'No network manifest yet: it comes from the root node or the broker.', action: 'Nothing to do if the device has network access; it keeps trying.' };
  }
  if (s.activation.state === 'not-activated') {
    return { state, title: 'Waiting for activation', detail: s.activation.reason ?? '', action: 'Nothing to do while the device can reach the root node; it keeps trying.' };
  }
  if (!s.broker.connected) {
    return { state, title: 'Waiting for the network', detail: `Not connected to the broker (${s.broker.state})${s.broker.failure ? `: ${s.broker.failure}` : ''}.`, action: 'Check the network cable or Wi-Fi; the node reconnects by itself.' };
  }
  const other = faults[0];
  return { state, title: other === undefined ? 'Starting' : `Waiting: ${other.key}`, detail: other?.message ?? `So far ${tally}.`, action: '' };
}
