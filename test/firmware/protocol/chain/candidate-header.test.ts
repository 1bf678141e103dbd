// The header frame of header-first delivery: layout, caps, the body's commitment, and the header
// test a node runs before its ticket (validateHeader), which must agree with the full test.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blockHash, DEFAULT_CHAIN_PARAMS, encodeBlock, encodeSignedHeader, signHeader, validateCandidate, validateHeader } from '../../../../firmware/protocol/chain/index.ts';
import type { Block } from '../../../../firmware/protocol/chain/index.ts';
import {
  decodeCandidateHeader, HEADER_MAGIC, HEADER_WIRE_VERSION, isHeaderFrame, joinBody, MAX_HEADER_FRAME_BYTES, splitCandidate,
} from '../../../../firmware/protocol/chain/candidate-header.ts';
import { ChainError } from '../../../../firmware/protocol/chain/errors.ts';
import { block, context, otherClerkKey, PARENT, txs } from './helpers.ts';

const caps = DEFAULT_CHAIN_PARAMS.caps;
function thrown(f: () => unknown): ChainError {
  try {
    f();
  } catch (e) {
    if (e instanceof ChainError) return e;
    throw e;
  }
  throw new Error('did not throw');
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** A frame with its bodyBytes field set to `n` (the u32 before the 32-byte hash). */
function withBodyBytes(frame: Uint8Array, n: number): Uint8Array {
  const out = frame.slice();
  new DataView(out.buffer).setUint32(out.length - 36, n);
  return out;
}

describe('candidate header frame', () => {
  const b = block({ transactions: txs(20) });
  const split = splitCandidate(b);

  it('is magic, version, the signed header, bodyBytes and SHA-256 of the body; header and body make the canonical block', () => {
    expect([split.frame[0], split.frame[1]]).toEqual([HEADER_MAGIC, HEADER_WIRE_VERSION]);
    const header = encodeSignedHeader(b.header);
    expect(hex(split.frame.subarray(2, 2 + header.length))).toBe(hex(header));
    expect(split.frame.length).toBe(2 + header.length + 4 + 32);
    expect(hex(Buffer.concat([header, split.body]))).toBe(hex(encodeBlock(b)));
    expect(hex(split.hash)).toBe(hex(blockHash(b.header)));
    const d = decodeCandidateHeader(split.frame, caps);
    expect(d.bodyBytes).toBe(split.body.length);
    expect(hex(d.bodyHash)).toBe(createHash('sha256').update(split.body).digest('hex'));
    expect(hex(d.hash)).toBe(hex(blockHash(b.header)));
    expect(isHeaderFrame(split.frame)).toBe(true);
    expect(isHeaderFrame(encodeBlock(b))).toBe(false);
  });

  it('joins with its body into the same block, transaction bytes as they came', () => {
    const j = joinBody(decodeCandidateHeader(split.frame, caps), split.body, caps);
    if (!j.ok) throw new Error(j.message);
    expect(hex(blockHash(j.block.header))).toBe(hex(blockHash(b.header)));
    expect(j.encodings).toHaveLength(20);
  });

  it('an empty block has an empty body', () => {
    const empty = splitCandidate(block({ transactions: [] }));
    expect(empty.body.length).toBe(0);
    const j = joinBody(decodeCandidateHeader(empty.frame, caps), new Uint8Array(0), caps);
    expect(j.ok).toBe(true);
  });

  it('refuses a body that is longer, shorter, or hashes to something else', () => {
    const h = decodeCandidateHeader(split.frame, caps);
    const longer = new Uint8Array(split.body.length + 1);
    longer.set(split.body);
    expect(joinBody(h, longer, caps)).toMatchObject({ ok: false, code: 'body-oversize' });
    expect(joinBody(h, split.body.subarray(1), caps)).toMatchObject({ ok: false, code: 'body-mismatch' });
    const flipped = split.body.slice();
    flipped[7]! ^= 0x80;
    expect(joinBody(h, flipped, caps)).toMatchObject({ ok: false, code: 'body-mismatch' });
  });

  it('refuses bytes that match a forged commitment but are not transactions, by name', () => {
    const junk = new Uint8Array(split.body.length).fill(0xff);
    const frame = split.frame.slice();
    frame.set(createHash('sha256').update(junk).digest(), frame.length - 32);
    expect(joinBody(decodeCandidateHeader(frame, caps), junk, caps)).toMatchObject({ ok: false, code: 'body-malformed' });
  });

  it('refuses frames above the caps, of another version, truncated, or announcing a body the caps cannot hold', () => {
    expect(thrown(() => decodeCandidateHeader(new Uint8Array(MAX_HEADER_FRAME_BYTES + 1).fill(HEADER_MAGIC), caps)).code).toBe('ERR_CHAIN_OVERSIZE');
    const v2 = split.frame.slice();
    v2[1] = 2;
    expect(thrown(() => decodeCandidateHeader(v2, caps)).code).toBe('ERR_CHAIN_WIRE_VERSION');
    for (const cut of [1, 40, split.frame.length - 1]) expect(thrown(() => decodeCandidateHeader(split.frame.subarray(0, cut), caps)).code).toBe('ERR_CHAIN_MALFORMED');
    expect(thrown(() => decodeCandidateHeader(withBodyBytes(split.frame, 0xffff_ffff), caps))).toMatchObject({ code: 'ERR_CHAIN_OVERSIZE', field: 'bodyBytes' });
    expect(thrown(() => decodeCandidateHeader(withBodyBytes(split.frame, 3), caps))).toMatchObject({ code: 'ERR_CHAIN_MALFORMED', field: 'bodyBytes' });
    // The block cap bounds the body: 20 transactions do not fit 2 KiB.
    expect(thrown(() => decodeCandidateHeader(split.frame, { maxTxs: 100, maxBlockBytes: 2048 }))).toMatchObject({ code: 'ERR_CHAIN_OVERSIZE', field: 'bodyBytes' });
    expect(thrown(() => decodeCandidateHeader(split.frame, { maxTxs: 10, maxBlockBytes: caps.maxBlockBytes }))).toMatchObject({ code: 'ERR_CHAIN_OVERSIZE', field: 'txCount' });
  });
});

describe('validateHeader: what a ticket may be spun on', () => {
  const resign = (x: Block, key = otherClerkKey): Block => ({ ...x, header: { ...x.header, clerkSignature: signHeader(key, x.header) } });

  it('accepts the header of a valid block, with the hash the full test gives', async () => {
    const b = block({ transactions: txs(5) });
    const head = validateHeader(b.header, context());
    const full = await validateCandidate(b, context());
    if (!head.ok || !full.ok) throw new Error('expected ok');
    expect(hex(head.hash)).toBe(hex(full.hash));
  });

  it('refuses by the same reason as the full test: parent, height, clerk signature, unknown clerk, txCount above the cap', async () => {
    const cases: [Block, ReturnType<typeof context>, string][] = [
      [block({ previousHash: new Uint8Array(32) }), context(), 'unknown-parent'],
      [block({ height: 7 }), context(), 'wrong-height'],
      [resign(block()), context(), 'bad-clerk-signature'],
      [block(), context({ tip: { hash: PARENT, height: 99 }, now: () => 0 }), 'timestamp-out-of-window'],
      [block({ transactions: txs(5) }), context({ params: { caps: { maxTxs: 2, maxBlockBytes: 1 << 20 } } }), 'oversize'],
    ];
    for (const [b, ctx, code] of cases) {
      const head = validateHeader(b.header, ctx);
      const full = await validateCandidate(b, ctx);
      expect(head.ok ? 'ok' : head.reason.code).toBe(code);
      expect(full.ok ? 'ok' : full.reason.code).toBe(code);
    }
  });
});
