// The network messages' schemas: one schema per message, the same strictness for all of them
// (unknown keys refused, hex of either case accepted and written lowercase, errors naming the
// field path), from bytes or from a JSON value the transport already parsed.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, encodeFinalMessage, encodeSealMessage, finalMessage, paramsMessage, sealMessage, type SealMessage } from '../../../firmware/protocol/index.ts';

const seal: SealMessage = {
  nodeId: 'node-1', height: 7, blockHash: new Uint8Array(32).fill(0xab), clerk: 'c'.repeat(64), round: 2,
  signature: new Uint8Array(256).fill(1), registration: null, expiresAt: 1_900_000_000_000,
};
const final = { height: 7, hash: new Uint8Array(32).fill(0xcd), timestamp: 1_800_000_000_000, clerk: 'c'.repeat(64), sealedBy: ['node-1'], votes: [{ member: 'ab'.repeat(32), signature: 'cd'.repeat(64) }] };

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return `${(err as { code: string }).code} ${(err as Error).message}`;
  }
  return 'ok';
}

describe('network messages', () => {
  it('read the same from bytes and from an already-parsed value', () => {
    const text = encodeSealMessage(seal);
    expect(sealMessage.read(JSON.parse(text))).toEqual(sealMessage.parse(new TextEncoder().encode(text)));
    expect(sealMessage.read(JSON.parse(text))).toEqual(seal);
    const f = encodeFinalMessage(final);
    expect(finalMessage.read(JSON.parse(f))).toEqual(finalMessage.parse(f));
    expect(finalMessage.read(JSON.parse(f))).toEqual(final);
    expect(paramsMessage.read({ ...DEFAULT_PARAMS })).toEqual(paramsMessage.parse(JSON.stringify(DEFAULT_PARAMS)));
  });

  it('refuse unknown keys in every message, naming the key', () => {
    expect(code(() => sealMessage.read({ ...JSON.parse(encodeSealMessage(seal)), extra: 1 }))).toBe('ERR_PROTOCOL_MALFORMED seal.extra: unknown key');
    expect(code(() => finalMessage.read({ ...JSON.parse(encodeFinalMessage(final)), votes2: 1 }))).toBe('ERR_PROTOCOL_MALFORMED final.votes2: unknown key');
    expect(code(() => paramsMessage.read({ ...DEFAULT_PARAMS, sealZeroes: 1 }))).toBe('ERR_PROTOCOL_MALFORMED params.sealZeroes: unknown key');
  });

  it('name the field path of what they refuse', () => {
    const s = JSON.parse(encodeSealMessage(seal));
    expect(code(() => sealMessage.read({ ...s, signature: 'ab' }))).toBe('ERR_PROTOCOL_MALFORMED seal.signature: expected hex of 64..512 bytes');
    expect(code(() => sealMessage.read({ ...s, v: 2 }))).toBe('ERR_PROTOCOL_MALFORMED seal.v: expected 1');
    expect(code(() => sealMessage.read({ ...s, round: 1.5 }))).toMatch(/^ERR_PROTOCOL_MALFORMED seal.round: expected integer in 0\.\.4294967295$/);
    expect(code(() => finalMessage.read({ ...JSON.parse(encodeFinalMessage(final)), sealedBy: ['ok', 'not/ok'] }))).toMatch(/^ERR_PROTOCOL_MALFORMED final.sealedBy\[1\]: expected string/);
    expect(code(() => paramsMessage.read({ ...DEFAULT_PARAMS, sealDeadlineMs: 1 }))).toBe('ERR_PROTOCOL_MALFORMED params: sealDeadlineMs must be at least one spinIntervalMs');
    expect(code(() => sealMessage.read([]))).toBe('ERR_PROTOCOL_MALFORMED seal: expected object');
  });

  it('accept hex of either case and write it lowercase', () => {
    const upper = { ...JSON.parse(encodeSealMessage(seal)), blockHash: 'AB'.repeat(32) };
    const read = sealMessage.read(upper);
    expect(JSON.parse(encodeSealMessage(read)).blockHash).toBe('ab'.repeat(32));
    const f = finalMessage.read({ ...JSON.parse(encodeFinalMessage(final)), hash: 'CD'.repeat(32) });
    expect(JSON.parse(encodeFinalMessage(f)).hash).toBe('cd'.repeat(32));
  });

  it('cap the size of raw payloads before parsing them', () => {
    expect(code(() => sealMessage.parse('x'.repeat(16 * 1024 + 1)))).toMatch(/ERR_PROTOCOL_OVERSIZE/);
    expect(code(() => paramsMessage.parse(' '.repeat(4097)))).toMatch(/ERR_PROTOCOL_OVERSIZE/);
    expect(code(() => sealMessage.parse('{"v":1'))).toMatch(/ERR_PROTOCOL_MALFORMED seal message is not valid UTF-8 JSON/);
  });
});
