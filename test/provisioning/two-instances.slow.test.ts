// Two `btn-provision serve` processes on one PostgreSQL database, as a root node scales out: every
// one of 1,000 devices is activated from both instances at once, and one instance is killed
// (SIGKILL) halfway through. Each node ends active exactly once: never two successful proofs for
// one node (a challenge answers for the state it was issued in, so the later proof is superseded),
// one committed activation per node, every node active. Real parts: PostgreSQL (BTN_PG_URL, a database of
// its own), the registrar processes, EK certificates minted under the swtpm test CA with keys the
// test holds (so that 2,000 credentials are answered without 2,000 TPMs).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { generateEd25519, writeKeyFile } from '../../provisioning/keys.ts';
import { signManifest } from '../../provisioning/manifest/index.ts';
import { openStore } from '../../provisioning/store/index.ts';
import { objectName, parsePublic } from '../../tpm/public-area.ts';
import { startDevices, type DeviceLab } from './devices.ts';
import { activateCredential, ekCertificateMinter, realEkKey, type SoftwareEk } from './software-ek.ts';
import { manifestBytes, syntheticLines } from './synthetic.ts';

const PG_URL = process.env['BTN_PG_URL'];
const BIN = new URL('../../provisioning/bin/btn-provision.js', import.meta.url).pathname;
const DEVICES = 1_000;

interface Instance { readonly url: string; readonly child: ChildProcess }

async function serve(db: string, rootKeyFile: string, trustDir: string): Promise<Instance> {
  const child = spawn(process.execPath, [BIN, 'serve', '--db', db, '--port', '0', '--root-key', rootKeyFile, '--trust', trustDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('registrar did not start within 60 s')), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('registrar listening')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`registrar exited with ${code}`)));
  });
  child.stdout!.resume();
  return { url, child };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> } | null> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  } catch {
    return null; // the instance is gone
  }
}

describe.skipIf(PG_URL === undefined)('two registrar instances on one PostgreSQL', () => {
  let lab: DeviceLab;
  let dir: string;
  let db: string;
  let admin: pg.Client;
  const instances: Instance[] = [];

  beforeAll(async () => {
    lab = await startDevices(1);
    dir = await mkdtemp(join(tmpdir(), 'btn-two-instances-'));
    db = `btn_two_${process.pid}_${randomBytes(4).toString('hex')}`;
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db}`);
  }, 120_000);
  afterAll(async () => {
    for (const i of instances) i.child.kill('SIGKILL');
    await admin?.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
    await admin?.end();
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('activates each of 1,000 nodes exactly once from both at once, one of them killed halfway', { timeout: 600_000 }, async () => {
    const url = new URL(PG_URL!);
    url.pathname = `/${db}`;
    const dbUrl = url.toString();
    const template = lab.devices[0]!.line;
    const mint = await ekCertificateMinter(lab.caDir, template.ekCertificate, parsePublic(fromHex(template.ekPublic)).rsa!.modulus);
    const eks: SoftwareEk[] = Array.from({ length: 4 }, () => {
      const k = realEkKey();
      return mint(k.modulus, k.privateKey);
    });
    const lines = syntheticLines(template, DEVICES, { eks, prefix: 'TWO' });
    const rootKeyFile = join(dir, 'root.key');
    await writeKeyFile(rootKeyFile, generateEd25519().seed);
    const maker = generateEd25519().key;
    const store = await openStore(dbUrl);
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    await store.close();
    instances.push(await serve(dbUrl, rootKeyFile, lab.caDir), await serve(dbUrl, rootKeyFile, lab.caDir));
    const [a, b] = instances as [Instance, Instance];
    const batch = manifestBytes(lines);
    const up = await fetch(`${a.url}/v1/batches`, {
      method: 'POST', body: batch, headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(batch, maker, 'acme').signature },
    });
    expect(((await up.json()) as { filed: number }).filed).toBe(DEVICES);

    // Each device: a challenge from each instance, both answered, both proofs sent at once.
    const successes = new Map<string, number>();
    const refusals = new Map<string, number>();
    let done = 0;
    let killed = false;
    const activate = async (line: string, i: number): Promise<void> => {
      const d = JSON.parse(line) as { ekPublic: string; sealingPublic: string };
      const name = objectName(parsePublic(fromHex(d.sealingPublic)));
      const ek = eks[i % eks.length]!;
      const proofs = await Promise.all([a, b].map(async (inst) => {
        const ch = await post(`${inst.url}/v1/activation/challenge`, { ekPublic: d.ekPublic, sealingPublic: d.sealingPublic });
        if (ch === null || ch.status !== 200) return null;
        const secret = activateCredential(ek.privateKey!, name, fromHex(String(ch.json['credentialBlob'])), fromHex(String(ch.json['encryptedSecret'])));
        return { inst, body: { challengeId: ch.json['challengeId'], secret: toHex(secret) } };
      }));
      const answers = await Promise.all(proofs.map((p) => (p === null ? Promise.resolve(null) : post(`${p.inst.url}/v1/activation/proof`, p.body))));
      for (const r of answers) {
        if (r === null) continue;
        if (r.status === 200) successes.set(String(r.json['nodeId']), (successes.get(String(r.json['nodeId'])) ?? 0) + 1);
        else {
          const code = String((r.json['error'] as { code?: string } | undefined)?.code);
          refusals.set(code, (refusals.get(code) ?? 0) + 1);
        }
      }
      if (++done === DEVICES / 2 && !killed) {
        killed = true;
        b.child.kill('SIGKILL');
      }
    };
    const queue = lines.map((l, i) => [l, i] as const);
    await Promise.all(Array.from({ length: 24 }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await activate(next[0], next[1]);
    }));
    expect(killed).toBe(true);

    // Never two successful proofs for one node; the losing proof was refused as superseded.
    expect([...successes.values()].filter((n) => n !== 1)).toEqual([]);
    expect([...refusals.keys()].filter((code) => code !== 'ERR_PROV_SUPERSEDED')).toEqual([]);
    // Every node active in the store with exactly one committed activation (broker generation 1),
    // also those whose success was lost with the killed instance.
    const check = new pg.Client({ connectionString: dbUrl });
    await check.connect();
    try {
      const { rows } = await check.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM devices GROUP BY state');
      expect(rows.map((r) => [r.state, Number(r.n)])).toEqual([['active', DEVICES]]);
      const generations = await check.query<{ node_id: string; g: string }>('SELECT node_id, broker_generation AS g FROM devices');
      const wrong = generations.rows.filter((r) => Number(r.g) !== 1);
      expect(wrong).toEqual([]);
    } finally {
      await check.end();
    }
    // Devices whose only success was lost with the killed instance are active too (counted above);
    // all the others were seen succeed exactly once.
    expect(successes.size).toBeGreaterThan(DEVICES * 0.9);
  });
});
