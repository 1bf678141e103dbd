// PostgreSQL group commit: a group of activations, or of new challenges, in one transaction with
// one WAL flush and a fixed number of round trips (about six per group, not six per activation).
// Each activation is checked on its own, in arrival order, against the rows the group locked
// and the effects of the items before it, so a refused one (revoked meanwhile, superseded by an
// earlier item) is refused alone and changes nothing; the store then persists the outcomes.
import type pg from 'pg';
import { buf, rowToChallenge, rowToState, type Row } from './rows.ts';
import { challengeRefusal, deviceRefusal, staleChallenge } from './activation-rules.ts';
import type { ActivationInput, ActivationOutcome, ChallengeRecord, DeviceState } from './types.ts';

/** Two queries; the caller owns the transaction (BEGIN before, COMMIT after). */
export async function activateGroup(c: pg.PoolClient, items: readonly ActivationInput[]): Promise<ActivationOutcome[]> {
  // One query locks each challenge and its device, in a fixed order (by EK name, then challenge
  // id), the same in every instance and for every group size, so two groups sharing a device
  // wait for each other instead of deadlocking.
  const ids = [...new Set(items.map((a) => a.challengeId))];
  const challenges = new Map<string, ChallengeRecord>();
  const devices = new Map<string, { state: DeviceState; generation: number }>();
  const rows = (await c.query(`SELECT c.*, d.state, d.broker_generation FROM challenges c JOIN devices d ON d.ek_name = c.ek_name
    WHERE c.id = ANY($1::text[]) ORDER BY c.ek_name, c.id FOR UPDATE`, [ids])).rows as Row[];
  for (const r of rows) {
    const ch = rowToChallenge(r);
    challenges.set(ch.id, ch);
    devices.set(ch.ekName, { state: rowToState(r), generation: Number(r['broker_generation']) });
  }

  const outcomes: ActivationOutcome[] = [];
  const used: { id: string; now: number }[] = [];
  const activated: { ekName: string; certificate: string; now: number }[] = [];
  for (const a of items) {
    const ch = challenges.get(a.challengeId);
    const refused = challengeRefusal(ch, a);
    if (refused !== null || ch === undefined) {
      outcomes.push({ ok: false, reason: refused ?? 'challenge-unknown' });
      continue;
    }
    const dev = devices.get(ch.ekName);
    const refusedDevice = deviceRefusal(dev?.state) ?? staleChallenge(ch, dev!.generation);
    if (refusedDevice !== null || dev === undefined) {
      outcomes.push({ ok: false, reason: refusedDevice ?? 'not-filed' });
      continue;
    }
    // The later items of this group see this one's effects: the challenge used, the device a
    // generation further (so a second proof for the same state is superseded, as it would be
    // in two transactions).
    challenges.set(ch.id, { ...ch, usedAt: a.now });
    devices.set(ch.ekName, { state: 'active', generation: dev.generation + 1 });
    used.push({ id: ch.id, now: a.now });
    activated.push({ ekName: ch.ekName, certificate: a.certificate, now: a.now });
    outcomes.push({ ok: true, brokerGeneration: dev.generation + 1, reactivated: dev.state === 'active' });
  }
  if (used.length === 0) return outcomes;

  // One statement marks the challenges used and activates the devices. activated_at stays the
  // first activation's; a re-activation renews the certificate. At most one activation per
  // device per group (a second one would be superseded above).
  const r = await c.query(`WITH used AS (
      UPDATE challenges SET used_at = u.now FROM unnest($1::text[], $2::bigint[]) AS u(id, now) WHERE challenges.id = u.id
    )
    UPDATE devices SET state = 'active', certificate = t.certificate, activated_at = COALESCE(devices.activated_at, t.now),
      broker_generation = devices.broker_generation + 1
    FROM unnest($3::text[], $4::text[], $5::bigint[]) AS t(ek_name, certificate, now) WHERE devices.ek_name = t.ek_name`, [
    used.map((u) => u.id), used.map((u) => u.now),
    activated.map((x) => x.ekName), activated.map((x) => x.certificate), activated.map((x) => x.now),
  ]);
  if (r.rowCount !== activated.length) throw new Error(`group activation updated ${r.rowCount} devices for ${activated.length} activations`);
  return outcomes;
}

/** One multi-row INSERT (its own transaction): all the challenges, or none when one is refused. */
export async function insertChallenges(c: pg.Pool | pg.PoolClient, items: readonly ChallengeRecord[]): Promise<void> {
  await c.query(`INSERT INTO challenges (id, ek_name, secret_hash, created_at, expires_at, generation)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[])`, [
    items.map((x) => x.id), items.map((x) => x.ekName), items.map((x) => buf(x.secretHash)),
    items.map((x) => x.createdAt), items.map((x) => x.expiresAt), items.map((x) => x.generation),
  ]);
}
