// Public API of the status LED: the node's state on the board's LED through Linux's LED class.
export { startStatusLed, type StatusLed, type StatusLedOptions } from './status-led.ts';
export { openSysfsLed, parseTriggers, accessHint, type SysfsLed, type SysfsLedOptions } from './sysfs-led.ts';
export { patternFor, PATTERN_MEANING, SLOW_BLINK_MS, FAST_BLINK_MS, type LedPattern, type LedStatusInput } from './patterns.ts';
