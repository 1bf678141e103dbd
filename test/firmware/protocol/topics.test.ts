import { describe, it, expect } from 'vitest';
import { sealSender, topicsFor, topicSegment, topicMatches, assertTopicFilter, assertTopicName, DEFAULT_TOPIC_PREFIX } from '../../../firmware/protocol/topics.ts';
import { ProtocolError } from '../../../firmware/protocol/errors.ts';

describe('topic layout', () => {
  it('lays out every topic under the default prefix btn/v1', () => {
    const t = topicsFor();
    expect(DEFAULT_TOPIC_PREFIX).toBe('btn/v1');
    expect(t.candidates).toBe('btn/v1/candidates');
    expect(t.seals('ab12cd')).toBe('btn/v1/seals/ab12cd/+');
    expect(t.sealFrom('ab12cd', 'node-1')).toBe('btn/v1/seals/ab12cd/node-1');
    expect(sealSender('btn/v1', t.sealFrom('ab12cd', 'node-1'))).toBe('node-1');
    expect(sealSender('btn/v1', 'btn/v1/seals/ab12cd')).toBeNull();
    expect(sealSender('btn/v1', 'btn/v2/seals/ab12cd/node-1')).toBeNull();
    expect(t.final).toBe('btn/v1/final');
    expect(t.manifest).toBe('btn/v1/manifest');
    expect(t.revocations).toBe('btn/v1/revocations');
    expect(t.status('node-1')).toBe('btn/v1/nodes/node-1/status');
    expect(t.telemetry('node-1')).toBe('btn/v1/nodes/node-1/telemetry');
    expect(t.allSeals).toBe('btn/v1/seals/+/+');
    expect(t.allStatus).toBe('btn/v1/nodes/+/status');
  });

  it('uses a configured prefix', () => {
    expect(topicsFor('test/net-7').seals('c1')).toBe('test/net-7/seals/c1/+');
  });

  it.each([
    ['slash', 'a/b'], ['plus', 'a+'], ['hash', '#'], ['NUL', 'a\0b'], ['space', 'a b'], ['empty', ''],
    ['non-ASCII', 'é'], ['too long', 'x'.repeat(129)], ['$ reserved', '$SYS'], ['newline', 'a\n'],
  ])('rejects a segment with %s', (_label, bad) => {
    const t = topicsFor();
    expect(() => t.seals(bad)).toThrow(ProtocolError);
    expect(() => t.status(bad)).toThrow(ProtocolError);
    expect(() => t.telemetry(bad)).toThrow(ProtocolError);
    try { topicSegment(bad); } catch (e) { expect((e as ProtocolError).code).toBe('ERR_PROTOCOL_TOPIC'); }
  });

  it('rejects non-string segments and bad prefixes', () => {
    expect(() => topicSegment(42)).toThrow(/string/);
    expect(() => topicsFor('btn//v1')).toThrow(ProtocolError);
    expect(() => topicsFor('btn/#')).toThrow(ProtocolError);
    expect(() => topicsFor('/btn')).toThrow(ProtocolError);
  });

  it('validates filters and names', () => {
    expect(assertTopicFilter('a/+/c/#')).toBe('a/+/c/#');
    expect(() => assertTopicFilter('a/#/c')).toThrow(ProtocolError);
    expect(() => assertTopicFilter('a/b+')).toThrow(ProtocolError);
    expect(() => assertTopicName('a/+')).toThrow(ProtocolError);
    expect(() => assertTopicName('a\0')).toThrow(ProtocolError);
    expect(assertTopicName('a/b')).toBe('a/b');
  });

  it('matches topics against filters like a broker [MQTT-4.7]', () => {
    const cases: [string, string, boolean][] = [
      ['a/b', 'a/b', true], ['a/b', 'a/c', false], ['a/+', 'a/b', true], ['a/+', 'a/b/c', false],
      ['a/#', 'a', true], ['a/#', 'a/b/c', true], ['#', 'a/b', true], ['+/+', 'a/b', true],
      ['+', '$SYS', false], ['#', '$SYS/x', false], ['a/+/c', 'a/x/c', true], ['a/b/c', 'a/b', false],
      ['btn/v1/seals/+', 'btn/v1/seals/abc', true], ['btn/v1/nodes/+/status', 'btn/v1/nodes/n1/telemetry', false],
    ];
    for (const [f, t, want] of cases) expect([f, t, topicMatches(f, t)]).toEqual([f, t, want]);
  });
});
