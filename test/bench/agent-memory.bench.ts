// Resident memory and event-loop delay of an agent: the bundled `btn-node run` as its own process,
// for the same time idle and then under a flood of 100 candidates (valid ones for the current
// height, wrong heights, garbage and oversized payloads) and 100 forged seals per second, against
// a bare `node -e` process and the idle phase measured in the same run. Memory must stay bounded
// (bounded queues and size caps, not whatever the flood brings) and the loop must stay free for
// the broker and the TPM. 60 s each (`--quick`: 15 s). npm run bench -- --only agent-memory
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockToJson } from '../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../firmware/protocol/chain/build.ts';
import { keyFingerprint } from '../../firmware/protocol/identity.ts';
import { createMqttTransport, startBroker, topicsFor } from '../../firmware/transport/index.ts';
import { bundle } from '../../image-build/bundle.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';
import { withBaseline, type BenchSuite } from './report.ts';


async function rssMb(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const run: BenchSuite = async (report, { quick }) => {
  const dir = await mkdtemp(join(tmpdir(), 'btn-bench-mem-'));
  const swtpm = await startSwtpm({ caDir: join(dir, 'ca') });
  const broker = await startBroker();
  const prefix = `btn/bench-mem-${process.pid}`;
  const topics = topicsFor(prefix);
  const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const genesisHash = new Uint8Array(createHash('sha256').update('mem genesis').digest());
  const children: ChildProcess[] = [];
  const flooder = createMqttTransport({ url: broker.url, nodeId: 'flood', clientId: `flood-${process.pid}`, prefix, protocol: 4, status: false, maxOutboundBytes: 8 * 1024 * 1024 });
  try {
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(bare);
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: prefix, stateDir: join(dir, 'node'), protocol: 4, logLevel: 'silent', devnetActive: true,
      primaries: [clerk.publicKey.export({ type: 'spki', format: 'pem' })], genesis: { hash: Buffer.from(genesisHash).toString('hex'), height: 0 },
      params: { sealZeros: 2, clerkZeros: 0, spinIntervalMs: 200, maxRounds: 20, sealDeadlineMs: 4000 },
    }));
    // The device build (one bundled file, as the image runs it), not the tsx development launcher.
    const built = await bundle(join(dir, 'bundle'));
    const agent = spawn(process.execPath, [join(built.dir, 'btn-node.mjs'), 'run', '--config', config], { stdio: 'ignore' });
    children.push(agent);
    await sleep(8000); // start-up: TPM key, broker, first status
    const idle = await rssMb(agent.pid!);
    const bareRss = (await rssMb(bare.pid!)).rss;
    report(withBaseline('agent RSS idle', Number(idle.rss.toFixed(1)), 'MB', 'bare node -e process', Number(bareRss.toFixed(1))));
    const seconds = quick ? 15 : 60;
    const statusOf = async (): Promise<{ eventLoop?: { p99Ms: number; maxMs: number }; seals: { made: number }; rejected: Record<string, number>; invalidMessages: Record<string, number> }> =>
      JSON.parse(await readFile(join(dir, 'node', 'status.json'), 'utf8'));
    // The same time idle first: the flood's figures are compared with these.
    let peakIdle = 0;
    for (const end = Date.now() + seconds * 1000; Date.now() < end;) {
      await sleep(100);
      peakIdle = Math.max(peakIdle, (await rssMb(agent.pid!)).rss);
    }
    const idleLoop = (await statusOf()).eventLoop ?? { p99Ms: 0, maxMs: 0 };

    // The flood: 100 messages/s for the duration; a quarter valid candidates at height 1.
    await flooder.online();
    const draw = drawUntilQualified(clerk.privateKey, genesisHash, 0, 1)!;
    const garbage = 'x'.repeat(200_000);
    const clerkFp = keyFingerprint(new Uint8Array(clerk.publicKey.export({ type: 'spki', format: 'der' })));
    // Seal-shaped, for height 1 and the drawn block, with a signature nobody made.
    const forgedSeal = (n: number): string => JSON.stringify({ height: 1, clerk: clerkFp, nodeId: `forger-${n}`, round: 0, blockHash: '00'.repeat(32), signature: 'ab'.repeat(256), expiresAt: Date.now() + 4000 });
    let sent = 0;
    let peakDuring = 0;
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      for (let i = 0; i < 10; i++) {
        const kind = sent % 4;
        const payload = kind === 0
          ? JSON.stringify(blockToJson(createBlock({ clerkKey: clerk.privateKey, height: 1, previousHash: genesisHash, timestamp: Date.now() + sent, drawRound: draw.round, drawSignature: draw.signature })))
          : kind === 1
            ? JSON.stringify(blockToJson(createBlock({ clerkKey: clerk.privateKey, height: 7 + sent, previousHash: genesisHash, timestamp: Date.now(), drawRound: draw.round, drawSignature: draw.signature })))
            : kind === 2 ? `{"not":"a block","n":${sent}}` : garbage;
        void flooder.publish(topics.candidates, payload, { qos: 0 });
        // And a forged seal for the clerk, under another sender each time: refused cheaply.
        void flooder.publish(topics.sealFrom(clerkFp, `forger-${sent}`), sent % 2 === 0 ? forgedSeal(sent) : garbage.slice(0, 4096), { qos: 0 });
        sent += 2;
      }
      await sleep(100);
      peakDuring = Math.max(peakDuring, (await rssMb(agent.pid!)).rss);
    }
    await sleep(10_000);
    const after = await rssMb(agent.pid!);
    const floodLoop = (await statusOf()).eventLoop ?? { p99Ms: 0, maxMs: 0 };
    report(withBaseline(`agent RSS peak during ${seconds} s flood at 100 candidates + 100 seals/s`, Number(peakDuring.toFixed(1)), 'MB', `peak in ${seconds} s idle`, Number(peakIdle.toFixed(1))));
    report(withBaseline('agent event-loop delay p99 (last minute) under the flood', floodLoop.p99Ms, 'ms', 'idle', Math.max(idleLoop.p99Ms, 0.1)));
    report(withBaseline('agent event-loop delay max (last minute) under the flood', floodLoop.maxMs, 'ms', 'idle', Math.max(idleLoop.maxMs, 0.1)));
    report(withBaseline('agent RSS 10 s after the flood', Number(after.rss.toFixed(1)), 'MB', 'agent RSS idle', Number(idle.rss.toFixed(1))));
    report({ name: 'agent flood messages sent', value: sent, unit: 'messages' });
    const status = await statusOf();
    report({ name: 'agent flood: seals made (one per (height, clerk) at most)', value: status.seals.made, unit: 'seals' });
    report({ name: 'agent flood: candidates rejected', value: Object.values(status.rejected as Record<string, number>).reduce((a, b) => a + b, 0), unit: 'candidates' });
    report({ name: 'agent flood: invalid messages dropped', value: Object.values(status.invalidMessages as Record<string, number>).reduce((a, b) => a + b, 0), unit: 'messages' });
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await flooder.close().catch(() => undefined);
    await broker.close();
    await swtpm.destroy();
    await rm(dir, { recursive: true, force: true });
  }
};
