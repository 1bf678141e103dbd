// Activation end to end as a device does it (firmware/activation activate(): challenge, the TPM's
// ActivateCredential on swtpm, proof, and with a broker the second ActivateCredential for the
// broker credential and its 0600 file), with the registrar creating or rotating the node's account
// on a real mosquitto over its dynamic-security control topic, beside the same activations with
// no broker admin, measured in the same run. One filed TPM re-activates again and again (each a
// full activation with a fresh certificate; with a broker, a fresh password set on the broker).
// npm run bench -- --only activation-broker
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activate } from '../../firmware/activation/index.ts';
import { startSecureMosquitto } from '../../firmware/devnet/secure-mosquitto.ts';
import { BrokerAdmin, brokerAccounts } from '../../provisioning/broker/dynsec.ts';
import { enrollDevice } from '../../provisioning/factory/index.ts';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore } from '../../provisioning/store/index.ts';
import { openTpm } from '../../tpm/index.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';
import { freePort } from '../net.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const PREFIX = 'btn/bench';

function p95(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]!;
}

export const run: BenchSuite = async (report, { quick }) => {
  const dir = await mkdtemp(join(tmpdir(), 'btn-bench-act-broker-'));
  const swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  const tpm = await openTpm({ tcti: swtpm.tcti });
  const broker = await startSecureMosquitto({ dir: join(dir, 'broker'), port: await freePort() });
  const admin = await BrokerAdmin.connect({ url: broker.url, ...broker.admin, ca: broker.caPem });
  const registrars: RunningRegistrar[] = [];
  try {
    const batch = join(dir, 'batch.jsonl');
    await enrollDevice({ tpm, batchPath: batch, serial: 'BENCH-1', board: 'rpi4' });
    const bytes = new Uint8Array(await readFile(batch));
    const trust = await TrustStore.fromDirectory(join(dir, 'ca'));
    const maker = generateEd25519().key;
    const root = generateEd25519().key;
    const start = async (name: string, withBroker: boolean): Promise<RunningRegistrar> => {
      const store = await openStore(`sqlite:${join(dir, `${name}.db`)}`);
      await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
      const r = await startRegistrar({ store, rootKey: root, trust, ...(withBroker ? { broker: brokerAccounts(admin, PREFIX) } : {}) });
      registrars.push({ ...r, close: async () => { await r.close(); await store.close(); } });
      const up = await fetch(`${r.url}/v1/batches`, {
        method: 'POST', body: bytes, headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(bytes, maker, 'acme').signature },
      });
      if (((await up.json()) as { filed?: number }).filed !== 1) throw new Error('the bench TPM was not filed');
      return r;
    };
    const plain = await start('plain', false);
    const brokered = await start('brokered', true);
    const count = quick ? 15 : 60;
    const times = async (r: RunningRegistrar, stateDir: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < count; i++) {
        const t = performance.now();
        await activate({ rootUrl: r.url, tpm, stateDir, rootPublicKey: root.publicKey, renew: i > 0 });
        out.push(performance.now() - t);
      }
      return out;
    };
    // Interleaved halves, so that load from elsewhere on the machine falls on both alike.
    const a: number[] = [];
    const b: number[] = [];
    for (let half = 0; half < 2; half++) {
      a.push(...(await times(plain, join(dir, 'state-plain'))));
      b.push(...(await times(brokered, join(dir, 'state-brokered'))));
    }
    const ms = (n: number): number => Number(n.toFixed(2));
    report(withBaseline(`activation with the broker account made or rotated (${b.length} on swtpm), median`, ms(median(b)), 'ms', 'the same without a broker', ms(median(a))));
    report(withBaseline('  p95', ms(p95(b)), 'ms', 'p95 without a broker', ms(p95(a))));
  } finally {
    for (const r of registrars) await r.close().catch(() => undefined);
    await admin.close();
    await broker.stop();
    await tpm.close();
    await swtpm.destroy();
    await rm(dir, { recursive: true, force: true });
  }
};
