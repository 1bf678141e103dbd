// MakeCredential cost at the root node: the project's software MakeCredential against
// the baseline of tpm2_makecredential (-T none, offline, one process per credential), measured
// in the same run for the same EK and name. Also: one full activation round trip on swtpm
// (makeCredential + Tpm.activateCredential).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeCredential } from '../../provisioning/credential.ts';
import { objectName, toTpm2bPublic } from '../../tpm/public-area.ts';
import { openTpm } from '../../tpm/tpm.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const execFileAsync = promisify(execFile);

export const run: BenchSuite = async (report, { quick }) => {
  const dir = await mkdtemp(join(tmpdir(), 'btn-bench-cred-'));
  const swtpm = await startSwtpm({ caDir: join(dir, 'ca') });
  const tpm = await openTpm({ tcti: swtpm.tcti });
  try {
    const ek = await tpm.ekPublic();
    const key = await tpm.ensureSealingKey();
    const name = objectName(key.public);
    await writeFile(join(dir, 'ek.pub'), toTpm2bPublic(ek.bytes));
    await writeFile(join(dir, 'secret'), randomBytes(32));

    const count = quick ? 200 : 2000;
    const start = performance.now();
    for (let i = 0; i < count; i++) makeCredential({ ekPublic: ek, name, secret: randomBytes(32) });
    const softwareMs = (performance.now() - start) / count;

    const toolRuns = quick ? 5 : 20;
    const toolTimes: number[] = [];
    const nameHex = Buffer.from(name).toString('hex');
    for (let i = 0; i < toolRuns; i++) {
      const t0 = performance.now();
      await execFileAsync('tpm2_makecredential', ['-T', 'none', '-e', 'ek.pub', '-s', 'secret', '-n', nameHex, '-o', `cred${i}`], { cwd: dir, env: { ...process.env, TSS2_LOG: 'all+NONE' } });
      toolTimes.push(performance.now() - t0);
    }
    const toolMs = median(toolTimes);
    report(withBaseline('makeCredential (software, RSA-2048 EK)', Number(softwareMs.toFixed(4)), 'ms/credential', 'tpm2_makecredential -T none', Number(toolMs.toFixed(2))));
    report({ name: 'makeCredential throughput', value: Math.round(1000 / softwareMs), unit: 'credentials/s' });

    const rounds = quick ? 5 : 20;
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const secret = randomBytes(32);
      const t0 = performance.now();
      const cred = makeCredential({ ekPublic: ek, name, secret });
      await tpm.activateCredential({ credentialBlob: cred.credentialBlob, secret: cred.encryptedSecret });
      times.push(performance.now() - t0);
    }
    report({ name: 'makeCredential + ActivateCredential on swtpm', value: Number(median(times).toFixed(2)), unit: 'ms (median)' });
  } finally {
    await tpm.close().catch(() => undefined);
    await swtpm.destroy();
    await rm(dir, { recursive: true, force: true });
  }
};
