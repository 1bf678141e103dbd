// Shared fixtures for the chain tests: two test-only clerk keys, accounts from fixed seeds, and
// a context whose tip, clock and primaries match the blocks built here.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createBlock, createTransaction, DEFAULT_CHAIN_PARAMS, PrimaryKeySet } from '../../../../firmware/protocol/chain/index.ts';
import type { Block, ChainParams, CreateBlockOptions, Transaction, ValidationContext } from '../../../../firmware/protocol/chain/index.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../../fixtures/chain/${name}`, import.meta.url), 'utf8');

export const clerkKey: KeyObject = createPrivateKey(fixture('clerk-test-key.pem'));
export const otherClerkKey: KeyObject = createPrivateKey(fixture('clerk-test-key-2.pem'));
export const NOW = 1_700_000_000_000;
export const PARENT = new Uint8Array(createHash('sha256').update('parent').digest());
export const TIP_HEIGHT = 99;

export function seed(i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`seed ${i}`).digest());
}

export function tx(i: number, over: Partial<{ amount: bigint; fee: bigint; timestamp: number }> = {}): Transaction {
  return createTransaction(seed(i % 7), { timestamp: over.timestamp ?? 1_700_000_000 + i, recipientId: String(1000 + i), amount: over.amount ?? BigInt(i + 1), fee: over.fee ?? 10n });
}

export function txs(n: number): Transaction[] {
  return Array.from({ length: n }, (_, i) => tx(i));
}

export function block(options: Partial<CreateBlockOptions> = {}): Block {
  return createBlock({ clerkKey, height: TIP_HEIGHT + 1, previousHash: PARENT, timestamp: NOW, drawRound: 0, transactions: txs(3), ...options });
}

export function context(over: Partial<Omit<ValidationContext, 'params'>> & { params?: Partial<ChainParams> } = {}): ValidationContext {
  const { params, ...rest } = over;
  return {
    primaries: new PrimaryKeySet([createPublicKey(clerkKey), createPublicKey(otherClerkKey)]),
    tip: { hash: PARENT, height: TIP_HEIGHT, timestamp: NOW - 10_000 },
    now: () => NOW,
    ...rest,
    params: { ...DEFAULT_CHAIN_PARAMS, ...params },
  };
}

/** Copy with one byte flipped. */
export function flip(bytes: Uint8Array, index = 0): Uint8Array {
  const out = bytes.slice();
  out[index] = out[index]! ^ 0x01;
  return out;
}
