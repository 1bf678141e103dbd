// The per-transaction work of a candidate in one pass: each id (SHA-256 of the canonical bytes),
// the Merkle root over them, and every Ed25519 signature. A VerifyPool does the whole pass in its
// workers (ids, a subtree root per batch, signatures), so the main thread keeps only the checks
// that need the block as a whole (root, duplicates, amounts). This module says what is checked;
// verify-pool.ts runs it (inline or on the workers, whose script mirrors it).
import { createHash } from 'node:crypto';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, TX_BODY_BYTES } from './transaction.ts';

export interface SignatureCheck {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/** One transaction: its canonical bytes, and the account's registered second key if it has one. */
export interface TransactionCheck {
  readonly encoding: Uint8Array;
  readonly secondPublicKey?: Uint8Array | undefined;
}

export type SignatureKind = 'signature' | 'secondSignature';

export interface TransactionChecksResult {
  /** SHA-256 of each transaction's canonical bytes, in block order. */
  readonly ids: readonly Uint8Array[];
  readonly root: Uint8Array;
  /** The first transaction (and which of its signatures) that does not verify; null when all do. */
  readonly bad: { readonly index: number; readonly which: SignatureKind } | null;
}

/** Where a transaction's signed parts sit in its canonical bytes (transaction.ts). */
const SENDER_AT = 1 + 4;
const SECOND_FLAG_AT = TX_BODY_BYTES + SIGNATURE_BYTES;

/** The signature checks of the transactions, with the transaction and kind each belongs to. */
export function signatureChecks(txs: readonly TransactionCheck[]): { checks: SignatureCheck[]; owners: { index: number; which: SignatureKind }[] } {
  const checks: SignatureCheck[] = [];
  const owners: { index: number; which: SignatureKind }[] = [];
  for (let i = 0; i < txs.length; i++) {
    const { encoding: e, secondPublicKey } = txs[i]!;
    checks.push({ publicKey: e.subarray(SENDER_AT, SENDER_AT + PUBLIC_KEY_BYTES), message: e.subarray(0, TX_BODY_BYTES), signature: e.subarray(TX_BODY_BYTES, SECOND_FLAG_AT) });
    owners.push({ index: i, which: 'signature' });
    if (secondPublicKey !== undefined) {
      // An account with a registered second key must carry a valid second signature over body || signature.
      const second = e[SECOND_FLAG_AT] === 1 ? e.subarray(SECOND_FLAG_AT + 1, SECOND_FLAG_AT + 1 + SIGNATURE_BYTES) : new Uint8Array(0);
      checks.push({ publicKey: secondPublicKey, message: e.subarray(0, SECOND_FLAG_AT), signature: second });
      owners.push({ index: i, which: 'secondSignature' });
    }
  }
  return { checks, owners };
}

export function transactionIds(txs: readonly TransactionCheck[]): Uint8Array[] {
  return txs.map((t) => new Uint8Array(createHash('sha256').update(t.encoding).digest()));
}
