// Notices a household keeps switched on (firmware/status/notices.ts): announced only once a
// problem lasts, at most once an hour per problem, with context, and "back to normal" after; the
// clock compared with the final blocks' signed timestamps.
import { describe, expect, it } from 'vitest';
import { ClockWatch, contextOf, NoticeBoard, problemsOf, type NoticeContext } from '../../../firmware/status/notices.ts';
import { noticesText } from '../../../firmware/status/page.ts';
import { parseNodeStatus } from '../../../firmware/status/node-status.ts';
import { discoveryConfigs } from '../../../firmware/telemetry/discovery.ts';
import { snapshot } from './fixtures.ts';

const MIN = 60_000;
const ctx: NoticeContext = { tpm: 'IBM', broker: 'connected', disk: 'ok', clock: '+0.4 s', lastFinal: '#5' };
const problem = (text: string): Map<string, string> => new Map([['broker', text]]);

describe('notice board', () => {
  it('announces a problem only after it lasted, once; says when it is back to normal', () => {
    const b = new NoticeBoard({ afterMs: 10 * MIN });
    expect(b.observe(problem('not connected'), ctx, 0)).toEqual([]);
    expect(b.observe(problem('not connected'), ctx, 9 * MIN)).toEqual([]);
    const [n] = b.observe(problem('not connected'), ctx, 10 * MIN);
    expect(n).toMatchObject({ kind: 'problem', key: 'broker', text: 'not connected (for 10 min)', context: ctx });
    expect(b.problemNow()).toBe(true);
    expect(b.observe(problem('not connected'), ctx, 30 * MIN)).toEqual([]);
    expect(b.observe(new Map(), ctx, 31 * MIN)).toEqual([expect.objectContaining({ kind: 'back-to-normal', text: 'back to normal: not connected' })]);
    expect(b.problemNow()).toBe(false);
    expect(b.recent().map((x) => x.kind)).toEqual(['problem', 'back-to-normal']);
  });

  it('a problem shorter than the setting is never announced, nor its end', () => {
    const b = new NoticeBoard({ afterMs: 10 * MIN });
    b.observe(problem('blip'), ctx, 0);
    expect(b.observe(new Map(), ctx, 5 * MIN)).toEqual([]);
    expect(b.recent()).toEqual([]);
  });

  it('the same problem coming back within the hour is not announced again until the hour is over', () => {
    const b = new NoticeBoard({ afterMs: MIN });
    b.observe(problem('down'), ctx, 0);
    expect(b.observe(problem('down'), ctx, MIN)).toHaveLength(1);
    expect(b.observe(new Map(), ctx, 2 * MIN)).toHaveLength(1);
    b.observe(problem('down'), ctx, 3 * MIN);
    expect(b.observe(problem('down'), ctx, 10 * MIN)).toEqual([]);
    expect(b.observe(problem('down'), ctx, 61 * MIN)).toEqual([expect.objectContaining({ kind: 'problem' })]);
    // Another problem is not held back by the first one's hour.
    const other = new Map([['broker', 'down'], ['clock', 'clock off']]);
    b.observe(other, ctx, 62 * MIN);
    expect(b.observe(other, ctx, 63 * MIN)).toEqual([expect.objectContaining({ key: 'clock' })]);
  });
});

describe('clock and problems from the status', () => {
  it('the clock is off when the final blocks disagree by over a minute (median of the last few)', () => {
    const c = new ClockWatch();
    expect(c.offsetMs()).toBeNull();
    expect(c.problem()).toBeNull();
    for (let h = 1; h <= 3; h++) c.record(h, 1_000_000 + h * 1000, 1_000_000 + h * 1000 + 800);
    expect(c.offsetMs()).toBe(800);
    expect(c.problem()).toBeNull();
    // One late final does not make the clock wrong; a run of them does.
    c.record(4, 1_004_000, 1_004_000 + 5 * MIN);
    expect(c.problem()).toBeNull();
    for (let h = 5; h <= 9; h++) c.record(h, 1_000_000 + h * 1000, 1_000_000 + h * 1000 - 3 * MIN);
    expect(c.problem()).toMatch(/^the clock is 180 s behind the network's final blocks/);
    expect(c.lastFinal()).toMatchObject({ height: 9 });
  });

  it('faults, the broker, a revocation and the clock are problems; the context names TPM, broker, disk, clock, last final', () => {
    const c = new ClockWatch();
    const s = snapshot({
      faults: [{ key: 'seal journal', code: 'ERR_JOURNAL_IO', message: 'the disk is full', since: 0 }],
      broker: { connected: false, state: 'reconnecting', failure: 'TLS: certificate name mismatch' },
      activation: { state: 'revoked', reason: 'stolen' },
    });
    expect([...problemsOf(s, c)]).toEqual([
      ['fault:seal journal', 'seal journal: the disk is full'],
      ['broker', 'not connected to the broker (TLS: certificate name mismatch)'],
      ['activation', 'revoked by the root node: stolen'],
    ]);
    const x = contextOf(s, c, 0);
    expect(x).toMatchObject({ broker: 'not connected (reconnecting)', disk: 'the disk is full', clock: 'not compared yet (no final block)', lastFinal: 'none since start' });
  });
});

describe('where notices show', () => {
  it('the page lists the last ones, newest first; status.json carries them; Home Assistant gets a problem and a notice entity', () => {
    expect(noticesText(undefined)).toBe('none');
    const n = [{ kind: 'problem' as const, text: 'a', at: Date.UTC(2026, 0, 1, 10, 0) }, { kind: 'back-to-normal' as const, text: 'back to normal: a', at: Date.UTC(2026, 0, 1, 10, 5) }];
    expect(noticesText(n)).toBe('10:05 UTC back to normal: a | 10:00 UTC problem: a');
    expect(parseNodeStatus(JSON.parse(JSON.stringify(snapshot({ notices: n })))).notices).toEqual(n);
    expect(() => parseNodeStatus(JSON.parse(JSON.stringify({ ...snapshot(), notices: [{ kind: 'panic', text: 'x', at: 1 }] })))).toThrow(/notices/);
    const configs = discoveryConfigs({ nodeId: 'n1', stateTopic: 's', availabilityTopic: 'a', notices: true });
    const problemEntity = configs.find((c) => c.topic === 'homeassistant/binary_sensor/btn_n1_problem/config');
    expect(problemEntity?.config).toMatchObject({ device_class: 'problem', json_attributes_topic: 's', value_template: "{{ 'ON' if value_json.notice.problem else 'OFF' }}" });
    expect(configs.some((c) => c.topic === 'homeassistant/sensor/btn_n1_notice/config')).toBe(true);
    expect(discoveryConfigs({ nodeId: 'n1', stateTopic: 's', availabilityTopic: 'a' }).some((c) => c.topic.includes('problem'))).toBe(false);
  });
});
