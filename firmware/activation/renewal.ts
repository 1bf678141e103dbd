// When a node renews its registration certificate: in the last third of its lifetime, and at
// most 30 days before it ends (a one-year certificate renews 30 days ahead, a one-hour one after
// 40 minutes). Renewal is a re-activation: the same proof of possession, a fresh certificate.
// Clerks refuse an expired certificate's seals, so a node that stayed offline past its end
// renews at once when it is back.

export const MAX_RENEWAL_LEAD_MS = 30 * 24 * 3600_000;

/** True when a certificate valid from `issuedAt` to `expiresAt` (ms) should be renewed at `now`. */
export function renewalDue(issuedAt: number, expiresAt: number, now: number): boolean {
  if (!Number.isFinite(issuedAt) || !Number.isFinite(expiresAt) || expiresAt <= issuedAt) return true;
  const lead = Math.min((expiresAt - issuedAt) / 3, MAX_RENEWAL_LEAD_MS);
  return now >= expiresAt - lead;
}
