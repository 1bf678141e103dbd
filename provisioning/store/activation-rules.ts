// The activation rules, written once: both stores (SQLite and PostgreSQL) run them inside their
// own transaction, on the rows they locked, and only persist the outcome; the server runs the
// same rules early (server/activation.ts), so a wrong proof costs no signature.
import { timingSafeEqual } from 'node:crypto';
import type { ActivationFailure, ActivationInput, ChallengeRecord, DeviceState } from './types.ts';

/** Why a proof cannot complete this challenge, or null: unknown, used, expired, or not this TPM's secret. */
export function challengeRefusal(ch: ChallengeRecord | undefined, a: Pick<ActivationInput, 'ekName' | 'secretHash' | 'now'>): ActivationFailure | null {
  if (ch === undefined) return 'challenge-unknown';
  if (ch.usedAt !== null) return 'challenge-used';
  if (ch.expiresAt <= a.now) return 'challenge-expired';
  // Constant time: the secret hash must not leak through how long the comparison takes.
  if (ch.ekName !== a.ekName || ch.secretHash.length !== a.secretHash.length || !timingSafeEqual(ch.secretHash, a.secretHash)) return 'bad-proof';
  return null;
}

/**
 * Why a device in this state cannot (re-)activate, or null: a filed device activates, an active
 * one re-activates (its state was lost on the device, or its certificate is due for renewal);
 * a revoked one never does.
 */
export function deviceRefusal(state: DeviceState | undefined): ActivationFailure | null {
  if (state === undefined) return 'not-filed';
  if (state === 'revoked') return 'revoked';
  return null;
}

/**
 * Why this proof cannot complete although its challenge and the device are sound: another
 * (re-)activation of the TPM completed since the challenge was issued. A challenge answers for the
 * state it was issued in, so of concurrent activations exactly one succeeds, and a re-activation
 * needs a challenge issued after the last one.
 */
export function staleChallenge(ch: Pick<ChallengeRecord, 'generation'>, deviceGeneration: number): ActivationFailure | null {
  return ch.generation === deviceGeneration ? null : 'superseded';
}

/**
 * After the root set the broker password of generation `wrote`, what the store now says to do:
 * `settled` (still the newest generation), `rewrite` (a later activation committed meanwhile; its
 * password must be the one left on the broker), or `disable` (revoked meanwhile: revocation wins).
 * Each writer reads again after every write and stops only on `settled`, so the last write on the
 * broker is always the newest generation's, or a disable.
 */
export function brokerStep(device: { state: DeviceState; brokerGeneration: number } | undefined, wrote: number): 'settled' | 'rewrite' | 'disable' {
  if (device === undefined || device.state !== 'active') return 'disable';
  return device.brokerGeneration === wrote ? 'settled' : 'rewrite';
}

/** What revoking a device in this state does: nothing known, already revoked, or revoke now. */
export function revocationStep(state: DeviceState | undefined): 'unknown' | 'already-revoked' | 'revoke' {
  if (state === undefined) return 'unknown';
  return state === 'revoked' ? 'already-revoked' : 'revoke';
}
