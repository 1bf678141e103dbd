// The network messages' schemas: one reader per message, the same strictness for all of them
// (unknown keys refused, hex of either case accepted and written lowercase), from bytes or from a
// JSON value the transport already parsed.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS, encodeFinalMessage, encodeSealMessage, parseFinalMessage, parseParams, parseSealMessage, readFinalMessage, readParams, readSealMessage, type SealMessage } from '../../../firmware/protocol/index.ts';

const seal: SealMessage = {
  nodeId: 'node-1', height: 7, blockHash: new Uint8Array(32).fill(0xab), clerk: 'c'.repeat(64), round: 2,
  signature: new Uint8Array(256).fill(1), registration: null, expiresAt: 1_900_000_000_000,
};
const final = { height: 7, hash: new Uint8Array(32).fill(0xcd), timestamp: 1_800_000_000_000, clerk: 'c'.repeat(64), sealedBy: ['node-1'], votes: 3 };

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
    expect(readSealMessage(JSON.parse(text))).toEqual(parseSealMessage(new TextEncoder().encode(text)));
    const f = encodeFinalMessage(final);
    expect(readFinalMessage(JSON.parse(f))).toEqual(parseFinalMessage(f));
    expect(readParams({ ...DEFAULT_PARAMS })).toEqual(parseParams(JSON.stringify(DEFAULT_PARAMS)));
  });

  it('refuse unknown keys in every message, naming the key', () => {
    expect(code(() => readSealMessage({ ...JSON.parse(encodeSealMessage(seal)), extra: 1 }))).toMatch(/ERR_PROTOCOL_MALFORMED seal.extra is not a field/);
    expect(code(() => readFinalMessage({ ...JSON.parse(encodeFinalMessage(final)), votes2: 1 }))).toMatch(/ERR_PROTOCOL_MALFORMED final.votes2 is not a field/);
    expect(code(() => readParams({ ...DEFAULT_PARAMS, sealZeroes: 1 }))).toMatch(/ERR_PROTOCOL_MALFORMED params.sealZeroes is not a field/);
  });

  it('accept hex of either case and write it lowercase', () => {
    const upper = { ...JSON.parse(encodeSealMessage(seal)), blockHash: 'AB'.repeat(32) };
    const read = readSealMessage(upper);
    expect(JSON.parse(encodeSealMessage(read)).blockHash).toBe('ab'.repeat(32));
    const f = readFinalMessage({ ...JSON.parse(encodeFinalMessage(final)), hash: 'CD'.repeat(32) });
    expect(JSON.parse(encodeFinalMessage(f)).hash).toBe('cd'.repeat(32));
  });

  it('cap the size of raw payloads before parsing them', () => {
    expect(code(() => parseSealMessage('x'.repeat(16 * 1024 + 1)))).toMatch(/ERR_PROTOCOL_OVERSIZE/);
    expect(code(() => parseParams(' '.repeat(4097)))).toMatch(/ERR_PROTOCOL_OVERSIZE/);
  });
});
