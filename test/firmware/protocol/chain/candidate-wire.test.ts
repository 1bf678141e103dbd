import { describe, expect, it } from 'vitest';
import { blockHash, blockToJson, DEFAULT_CHAIN_PARAMS, encodeBlock, encodeTransaction, validateCandidate } from '../../../../firmware/protocol/chain/index.ts';
import {
  CANDIDATE_FRAME_BYTES, CANDIDATE_MAGIC, CANDIDATE_WIRE_VERSION, candidateByteCaps, candidateCapFor, decodeCandidate, encodeCandidate, encodeCandidateFrame,
} from '../../../../firmware/protocol/chain/candidate-wire.ts';
import { ChainError } from '../../../../firmware/protocol/chain/errors.ts';
import { block, context, txs } from './helpers.ts';

const caps = DEFAULT_CHAIN_PARAMS.caps;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
function thrown(f: () => unknown): ChainError {
  try {
    f();
  } catch (e) {
    if (e instanceof ChainError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('candidate wire encoding', () => {
  const b = block({ transactions: txs(20) });

  it('a binary frame is magic, version, then the canonical block bytes, and decodes to the same block with its transactions\' bytes', () => {
    const frame = encodeCandidateFrame(b);
    expect([frame[0], frame[1]]).toEqual([CANDIDATE_MAGIC, CANDIDATE_WIRE_VERSION]);
    expect(Buffer.from(frame.subarray(CANDIDATE_FRAME_BYTES)).equals(Buffer.from(encodeBlock(b)))).toBe(true);
    const d = decodeCandidate(frame, caps);
    expect(d.encoding).toBe('binary');
    expect(blockHash(d.block.header)).toEqual(blockHash(b.header));
    expect(d.encodings!.map((e) => Buffer.from(e).toString('hex'))).toEqual(b.transactions.map((t) => Buffer.from(encodeTransaction(t)).toString('hex')));
  });

  it('JSON still works (for tools), told apart by its first byte, white space before it included', () => {
    const text = JSON.stringify(blockToJson(b));
    for (const payload of [utf8(text), utf8(`\n  ${text}`)]) {
      const d = decodeCandidate(payload, caps);
      expect(d.encoding).toBe('json');
      expect(d.encodings).toBeUndefined();
      expect(blockHash(d.block.header)).toEqual(blockHash(b.header));
    }
    expect(encodeCandidate(b, 'json')).toBe(text);
  });

  it('binary is about a third of the JSON', () => {
    const big = block({ transactions: txs(200) });
    const ratio = Buffer.byteLength(JSON.stringify(blockToJson(big))) / encodeCandidateFrame(big).length;
    expect(ratio).toBeGreaterThan(2.5);
    expect(ratio).toBeLessThan(JSON_FACTOR_BOUND);
  });

  it('refuses a frame of another version by name', () => {
    for (const v of [0, 2, 255]) {
      const frame = encodeCandidateFrame(b);
      frame[1] = v;
      const err = thrown(() => decodeCandidate(frame, caps));
      expect(err.code).toBe('ERR_CHAIN_WIRE_VERSION');
      expect(err.message).toContain(`version ${v}`);
    }
  });

  it('refuses truncated frames at every cut as malformed, naming the field', () => {
    const frame = encodeCandidateFrame(b);
    for (const cut of [1, 2, 3, 40, 200, frame.length - 100, frame.length - 1]) {
      const err = thrown(() => decodeCandidate(frame.subarray(0, cut), caps));
      expect(err.code, `cut at ${cut}`).toBe('ERR_CHAIN_MALFORMED');
      expect(err.message).toMatch(/truncated/);
    }
    const tail = thrown(() => decodeCandidate(new Uint8Array([...frame, 0]), caps));
    expect(tail.message).toMatch(/trailing/);
  });

  it('refuses an empty payload and an unknown first byte', () => {
    expect(thrown(() => decodeCandidate(new Uint8Array(0), caps)).message).toMatch(/empty/);
    const err = thrown(() => decodeCandidate(new Uint8Array([0x01, 0x01, 0x00]), caps));
    expect(err.code).toBe('ERR_CHAIN_MALFORMED');
    expect(err.message).toMatch(/0x01/);
  });

  it('caps follow the block caps: binary = block bytes + frame, JSON = 4x, and never above what maxTxs transactions can fill', () => {
    const small = { maxTxs: 10_000, maxBlockBytes: 64 * 1024 };
    expect(candidateByteCaps(small)).toEqual({ binary: 64 * 1024 + CANDIDATE_FRAME_BYTES, json: 4 * 64 * 1024 });
    const few = candidateByteCaps({ maxTxs: 10, maxBlockBytes: 8 * 1024 * 1024 });
    expect(few.binary).toBeLessThan(8 * 1024);
    const frame = encodeCandidateFrame(b);
    expect(candidateCapFor(frame, small)).toBe(64 * 1024 + CANDIDATE_FRAME_BYTES);
    expect(candidateCapFor(utf8('{}'), small)).toBe(4 * 64 * 1024);
    // above the cap: refused before decoding
    const tight = { maxTxs: 10_000, maxBlockBytes: frame.length - 10 };
    expect(thrown(() => decodeCandidate(frame, tight)).code).toBe('ERR_CHAIN_OVERSIZE');
  });

  it('a decoded binary candidate validates with the bytes it came with', async () => {
    const d = decodeCandidate(encodeCandidateFrame(b), caps);
    const r = await validateCandidate(d.block, context(), d.encodings);
    expect(r.ok).toBe(true);
  });
});

const JSON_FACTOR_BOUND = 4;
