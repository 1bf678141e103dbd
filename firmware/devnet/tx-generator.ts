// Deterministic transactions for the devnet: a fixed set of Ed25519 accounts derived from a
// seed string, paying each other small amounts in turn. Every transaction is unique (the
// sequence number is in the amount), so blocks never repeat an id.
import { createHash } from 'node:crypto';
import { createTransaction } from '../protocol/chain/build.ts';
import { addressFromPublicKey, keyPairFromSeed, type Ed25519KeyPair, type Transaction } from '../protocol/chain/transaction.ts';
import { DevnetError } from './errors.ts';

export interface TxGeneratorOptions {
  /** Number of accounts (2..1000). Default 8. */
  readonly accounts?: number;
  /** Seeds are SHA-256(`${seed}/account/${i}`). Default 'btn-devnet'. */
  readonly seed?: string;
}

export interface TxSource {
  /** `count` new signed transactions stamped with `timestampSec` (Unix seconds). */
  next(count: number, timestampSec: number): Transaction[];
}

export class TxGenerator implements TxSource {
  readonly accounts: readonly { readonly keys: Ed25519KeyPair; readonly address: string }[];
  #sequence = 0;

  constructor(options: TxGeneratorOptions = {}) {
    const n = options.accounts ?? 8;
    if (!Number.isInteger(n) || n < 2 || n > 1000) throw new DevnetError('ERR_DEVNET_OPTIONS', `accounts must be an integer in 2..1000, got ${n}`);
    const seed = options.seed ?? 'btn-devnet';
    this.accounts = Array.from({ length: n }, (_, i) => {
      const keys = keyPairFromSeed(new Uint8Array(createHash('sha256').update(`${seed}/account/${i}`).digest()));
      return { keys, address: addressFromPublicKey(keys.publicKey) };
    });
  }

  next(count: number, timestampSec: number): Transaction[] {
    if (!Number.isInteger(count) || count < 0 || count > 100_000) throw new DevnetError('ERR_DEVNET_OPTIONS', `transaction count must be 0..100000, got ${count}`);
    const out: Transaction[] = [];
    const n = this.accounts.length;
    for (let i = 0; i < count; i++) {
      const s = this.#sequence++;
      const from = this.accounts[s % n]!;
      // Offset 1..n-1: never the sender, and every pair comes up over time.
      const to = this.accounts[(s % n + 1 + (Math.floor(s / n) % (n - 1))) % n]!;
      out.push(createTransaction(from.keys, { timestamp: timestampSec, recipientId: to.address, amount: BigInt(1000 + s), fee: 10n }));
    }
    return out;
  }

  get issued(): number {
    return this.#sequence;
  }
}
