// What the board's status LED shows, from the node's status. The kernel blinks the LED (LED
// class triggers), never JavaScript: a pattern is set once when the state changes, so the event
// loop does no LED work while a seal is due.
//
//   pattern     kernel trigger                  node state
//   on-pulse    heartbeat (double pulse)        active and connected to the broker: sealing
//   slow-blink  timer 1000 ms on / 1000 ms off  waiting: starting, no TPM yet, not activated yet
//                                                (not filed, root unreachable), broker not connected
//   fast-blink  timer 100 ms on / 100 ms off    needs the household: revoked, the seal journal cannot
//                                                be written (disk full or read-only: the node waits,
//                                                but only a person frees the card), or a fault no
//                                                retry fixes (bad configuration, corrupt journal)
//   updating    timer 300 ms on / 300 ms off   downloading or installing an announced update (restarts soon)
//   off         none, brightness off            stopped (service stopped or agent stopped)
//
// A fast blink outlives the process (the kernel keeps blinking after exit), so a node that exits
// on a fatal fault still says so. Without the timer or heartbeat trigger (kernel module not
// loaded), the LED falls back to steady on for on-pulse and off for everything else.

import { householdState, type HouseholdInput, type HouseholdState } from '../status/index.ts';

export type LedPattern = 'on-pulse' | 'slow-blink' | 'fast-blink' | 'updating' | 'off';

export const SLOW_BLINK_MS = 1000;
export const FAST_BLINK_MS = 100;
export const UPDATING_BLINK_MS = 300;

/** The fields of the node's status (firmware/status/node-status.ts) the LED depends on. */
export type LedStatusInput = HouseholdInput;

const PATTERN: Readonly<Record<HouseholdState, LedPattern>> = { working: 'on-pulse', waiting: 'slow-blink', 'needs-you': 'fast-blink', updating: 'updating', stopped: 'off' };

/** The same rule as the status page's headline (firmware/status/headline.ts). */
export function patternFor(s: LedStatusInput): LedPattern {
  return PATTERN[householdState(s)];
}

/** Words for a person looking at the board (status page, README). */
export const PATTERN_MEANING: Readonly<Record<LedPattern, string>> = {
  'on-pulse': 'heartbeat: active and connected, sealing',
  'slow-blink': 'slow blink: waiting (starting, TPM not found yet, not activated yet, broker not connected, or no network manifest yet)',
  'fast-blink': 'fast blink: needs you (revoked, storage full or read-only, or a fault the node cannot fix itself; see Problems now and Last errors)',
  updating: 'medium blink: updating (downloading or installing; the device restarts by itself, leave it plugged in)',
  off: 'off: stopped',
};
