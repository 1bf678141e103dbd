// The event-loop watch sees a blocked loop, in the snapshot and through status.json's reader.
import { describe, expect, it } from 'vitest';
import { EventLoopWatch } from '../../../firmware/status/event-loop.ts';
import { parseNodeStatus, renderMetrics } from '../../../firmware/status/index.ts';
import { snapshot } from './fixtures.ts';

const block = (ms: number): void => {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* the loop is held, as a flood or a big block would */ }
};

describe('EventLoopWatch', () => {
  it('reports a 120 ms stall as the maximum and the 99th percentile of the window', async () => {
    const watch = new EventLoopWatch();
    try {
      await new Promise((r) => setTimeout(r, 50));
      block(120);
      await new Promise((r) => setTimeout(r, 50));
      const after = watch.snapshot();
      expect(after.maxMs).toBeGreaterThanOrEqual(100);
      expect(after.p99Ms).toBeGreaterThanOrEqual(100);
    } finally {
      watch.stop();
    }
  });

  it('travels in status.json and /metrics; a negative or absurd delay is refused', () => {
    const s = snapshot({ eventLoop: { p99Ms: 12.3, maxMs: 45.6 } });
    expect(parseNodeStatus(s).eventLoop).toEqual({ p99Ms: 12.3, maxMs: 45.6 });
    expect(() => parseNodeStatus({ ...s, eventLoop: { p99Ms: -1, maxMs: 1 } })).toThrow(/status\.eventLoop\.p99Ms/);
    expect(renderMetrics(s)).toContain('btn_event_loop_delay_seconds{node="a1b2c3d4e5f6",stat="p99"} 0.0123');
  });
});
