// The virtual clock the fast suites run on: time moves only when told, timers and sleeps fire in
// time order, aborts end a sleep early, and autoAdvance makes sleeps move time themselves.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';

describe('ManualClock', () => {
  it('runs timers and sleeps only when time reaches them, earliest first, and cancels', async () => {
    const clock = new ManualClock(1000);
    const order: string[] = [];
    clock.setTimer(() => order.push(`b@${clock.now()}`), 50);
    clock.setTimer(() => order.push(`a@${clock.now()}`), 20);
    const cancel = clock.setTimer(() => order.push('never'), 30);
    let woke = 0;
    void clock.sleep(40).then(() => (woke = clock.now()));
    cancel();
    clock.tick(10);
    expect(order).toEqual([]);
    await clock.advance(60, 10);
    expect(order).toEqual(['a@1020', 'b@1050']);
    expect(woke).toBe(1040);
    expect(clock.now()).toBe(1070);
    expect(clock.pending).toBe(0);
  });

  it('ends a sleep when its signal aborts, without leaving its timer behind', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const slept = clock.sleep(1_000_000, ac.signal);
    ac.abort();
    await slept;
    expect(clock.now()).toBe(0);
    expect(clock.pending).toBe(0);
    await clock.sleep(5, ac.signal); // already aborted: at once
  });

  it('with autoAdvance, sleep() moves time itself and returns at once', async () => {
    const clock = new ManualClock(0, { autoAdvance: true });
    await clock.sleep(250);
    await clock.sleep(-5);
    expect(clock.now()).toBe(250);
  });
});
