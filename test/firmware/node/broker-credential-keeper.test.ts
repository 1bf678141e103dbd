// The broker credential keeper (firmware/node/broker-credential-keeper.ts) on real files in a
// temporary state dir; the gate and the transport are stubs (the whole path with swtpm, the
// registrar and a real mosquitto is broker-reactivation-node.test.ts).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BROKER_CREDENTIALS_FILE, writeBrokerCredentials } from '../../../firmware/activation/broker-credentials.ts';
import { BrokerCredentialKeeper, type BrokerCredentialKeeperOptions } from '../../../firmware/node/broker-credential-keeper.ts';
import type { GateState } from '../../../firmware/sealing/gate.ts';

const NODE = 'ab'.repeat(32);
const pw = (n: number): string => `password-${n}-`.padEnd(43, 'x');
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-keeper-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function parts(o: { renew?: () => Promise<void>; state?: GateState['state'] } = {}) {
  const clock = { t: 1_000_000, now: (): number => clock.t };
  let gateState: GateState = o.state === 'revoked'
    ? { state: 'revoked', nodeId: NODE, reason: 'x' }
    : { state: 'active', nodeId: NODE, registration: {} };
  const used: string[] = [];
  let renewals = 0;
  const transport = { state: 'offline', identity: { refused: 0, lastRefusal: null as string | null }, useCredentials: (_u: string, p: string) => void used.push(p) };
  const gate = {
    current: () => gateState,
    onChange: () => () => undefined,
    renew: async () => {
      renewals++;
      await (o.renew ?? (async () => writeBrokerCredentials(dir, { username: NODE, password: pw(renewals) })))();
    },
  };
  const refuse = (times: number, why: string): void => {
    transport.identity = { refused: transport.identity.refused + times, lastRefusal: why };
  };
  const keeper = (extra: Partial<BrokerCredentialKeeperOptions> = {}): BrokerCredentialKeeper =>
    new BrokerCredentialKeeper({ stateDir: dir, gate, transport, logger: pino({ level: 'silent' }), now: clock.now, backoff: { baseMs: 60_000, capMs: 600_000, random: () => 1 }, ...extra });
  return { clock, transport, gate, used, refuse, keeper, renewals: () => renewals, setState: (s: GateState) => { gateState = s; } };
}

describe('broker credential keeper', () => {
  it('hands the transport the credential activation wrote, once', async () => {
    const p = parts();
    const k = p.keeper();
    await writeBrokerCredentials(dir, { username: NODE, password: pw(7) });
    await k.check();
    await k.check();
    expect(p.used).toEqual([pw(7)]);
    expect(p.renewals()).toBe(0);
  });

  it('a missing file while the broker refuses the node: re-activates and uses the new credential', async () => {
    const p = parts();
    const k = p.keeper();
    await k.check();
    expect(p.renewals()).toBe(0); // not refused yet: maybe this broker needs no credential
    p.refuse(1, 'Not authorized');
    await k.check();
    expect(p.renewals()).toBe(1);
    expect(p.used).toEqual([pw(1)]);
  });

  it('an unreadable file: re-activates at once, the new file replaces it', async () => {
    const p = parts();
    await writeFile(join(dir, BROKER_CREDENTIALS_FILE), '{"format":"btn-broker-credentials/v1","username":"zz"', { mode: 0o600 });
    await p.keeper().check();
    expect([p.renewals(), p.used]).toEqual([1, [pw(1)]]);
  });

  it('refused as not authorized 3 times with its credential: re-activates; other refusals do not count', async () => {
    const p = parts();
    await writeBrokerCredentials(dir, { username: NODE, password: pw(0) });
    const k = p.keeper({ using: pw(0) });
    p.refuse(5, 'Server unavailable');
    await k.check();
    p.refuse(2, 'Not authorized');
    await k.check();
    expect(p.renewals()).toBe(0);
    p.refuse(1, 'Not authorized');
    await k.check();
    expect(p.renewals()).toBe(1);
    expect(p.used).toEqual([pw(1)]);
  });

  it('never a tight loop: a failing re-activation waits out its backoff, which grows', async () => {
    const p = parts({ renew: async () => { throw new Error('root unreachable'); } });
    const k = p.keeper();
    p.refuse(1, 'Not authorized');
    for (let i = 0; i < 20; i++) await k.check();
    expect(p.renewals()).toBe(1);
    p.clock.t += 60_000;
    for (let i = 0; i < 20; i++) await k.check();
    expect(p.renewals()).toBe(2);
    p.clock.t += 60_000; // the second window is 120 s
    await k.check();
    expect(p.renewals()).toBe(2);
    p.clock.t += 60_000;
    await k.check();
    expect(p.renewals()).toBe(3);
    // A working connection: nothing to renew, and the pace starts over for the next refusal.
    p.transport.state = 'online';
    await k.check();
    expect(p.renewals()).toBe(3);
    p.transport.state = 'offline';
    await k.check();
    expect(p.renewals()).toBe(3);
    p.refuse(1, 'Not authorized');
    await k.check();
    expect(p.renewals()).toBe(4);
  });

  it('a root that renews without a broker credential: no more re-activations for a missing file', async () => {
    const p = parts({ renew: async () => undefined });
    const k = p.keeper();
    p.refuse(1, 'Not authorized');
    await k.check();
    p.clock.t += 3_600_000;
    p.refuse(1, 'Connection refused: Server unavailable');
    await k.check();
    expect(p.renewals()).toBe(1);
  });

  it('a node that is not active (revoked, not yet activated) never re-activates', async () => {
    const p = parts({ state: 'revoked' });
    p.refuse(10, 'Not authorized');
    await p.keeper().check();
    p.setState({ state: 'not-activated', nodeId: NODE, reason: 'waiting' });
    await p.keeper().check();
    expect(p.renewals()).toBe(0);
  });
});
