import { describe, expect, it } from 'vitest';
import { comparePriority, lotteryMessage, qualifies, scoreTicket, thresholdFor, ticketOf } from '../../../../firmware/protocol/chain/index.ts';
import { leadingZeroBits, toHex } from '../../../../firmware/core/bytes.ts';
import type { TicketScore } from '../../../../firmware/protocol/chain/index.ts';

const score = (round: number, zeros: number, ticket: number[]): TicketScore => ({ round, zeros, ticket: new Uint8Array(ticket) });

describe('leadingZeroBits', () => {
  it('counts across byte boundaries', () => {
    expect(leadingZeroBits(new Uint8Array([]))).toBe(0);
    expect(leadingZeroBits(new Uint8Array([0x80]))).toBe(0);
    expect(leadingZeroBits(new Uint8Array([0x01]))).toBe(7);
    expect(leadingZeroBits(new Uint8Array([0x00, 0xff]))).toBe(8);
    expect(leadingZeroBits(new Uint8Array([0x00, 0x00, 0x40]))).toBe(17);
    expect(leadingZeroBits(new Uint8Array([0x00, 0x01, 0x00]))).toBe(15);
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256);
    const last = new Uint8Array(32);
    last[31] = 1;
    expect(leadingZeroBits(last)).toBe(255);
  });
});

describe('lotteryMessage', () => {
  it('is hash || uint32be(round) and checks its inputs', () => {
    const m = lotteryMessage(new Uint8Array(32).fill(0xaa), 0x01020304);
    expect(toHex(m)).toBe('aa'.repeat(32) + '01020304');
    expect(toHex(lotteryMessage(new Uint8Array(32), 0xffffffff)).slice(64)).toBe('ffffffff');
    expect(() => lotteryMessage(new Uint8Array(31), 0)).toThrow(RangeError);
    expect(() => lotteryMessage(new Uint8Array(32), -1)).toThrow(RangeError);
    expect(() => lotteryMessage(new Uint8Array(32), 2 ** 32)).toThrow(RangeError);
    expect(() => lotteryMessage(new Uint8Array(32), 1.5)).toThrow(RangeError);
  });
});

describe('scoreTicket / qualifies', () => {
  it('ticket is SHA-256 of the signature (FIPS 180-2 "abc")', () => {
    expect(toHex(ticketOf(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const s = scoreTicket(new TextEncoder().encode('abc'), 4);
    expect(s).toMatchObject({ round: 4, zeros: 0 });
  });

  it('uses >= m', () => {
    expect(qualifies(5, 5)).toBe(true);
    expect(qualifies(4, 5)).toBe(false);
    expect(qualifies(0, 0)).toBe(true);
  });
});

describe('comparePriority', () => {
  it('orders by round ascending, then zeros descending, then ticket bytes ascending', () => {
    const a = score(0, 3, [0x1f]);
    const b = score(1, 9, [0x00]);
    expect(comparePriority(a, b)).toBeLessThan(0);
    expect(comparePriority(b, a)).toBeGreaterThan(0);
    expect(comparePriority(score(2, 9, [0x00]), score(2, 4, [0x00]))).toBeLessThan(0);
    expect(comparePriority(score(2, 4, [0x01, 0x02]), score(2, 4, [0x01, 0x03]))).toBeLessThan(0);
    expect(comparePriority(score(2, 4, [0x01]), score(2, 4, [0x01]))).toBe(0);
    const sorted = [score(1, 2, [5]), score(0, 1, [9]), score(1, 7, [1]), score(0, 1, [3])].sort(comparePriority);
    expect(sorted.map((s) => `${s.round}/${s.zeros}/${s.ticket[0]}`)).toEqual(['0/1/3', '0/1/9', '1/7/1', '1/2/5']);
  });
});

describe('thresholdFor', () => {
  it('is max(0, floor(log2(N / k)))', () => {
    expect(thresholdFor(1_000_000, 1)).toBe(19); // floor(log2(1e6)) = 19
    expect(thresholdFor(1 << 20, 1)).toBe(20);
    expect(thresholdFor(1024, 4)).toBe(8);
    expect(thresholdFor(3, 1)).toBe(1);
    expect(thresholdFor(1, 1)).toBe(0);
    expect(thresholdFor(2, 5)).toBe(0);
    expect(() => thresholdFor(0, 1)).toThrow(RangeError);
    expect(() => thresholdFor(10, 0)).toThrow(RangeError);
  });
});
