// Bad input and faults: a state directory on a read-only file system (a tmpfs of the
// child's own, mounted read-only; chmod would not stop root). `btn-node run` (child process,
// swtpm, aedes) says once, on stderr and on its status page, that it cannot write and where
// (EROFS), keeps retrying, and becomes healthy and seals once the mount turns writable, without
// a restart. (Turning a mount read-only while the journal is open for writing is refused by the
// kernel with EBUSY, so this read-only fault can only be there from the start or come from the
// kernel itself; a disk filling up while running is full-disk.test.ts.)
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockHash, blockToJson } from '../../../firmware/protocol/chain/block.ts';
import { getJson, getText, LEVEL, pageFaults, seen, spawnAgent, tmpfsSupport, unescapeHtml, until, type AgentChild } from './harness.ts';
import { startRig, type Rig } from './rig.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
let rig: Rig;
let agent: AgentChild | null = null;

beforeAll(async () => {
  if (tmpfsSupport.ok) rig = await startRig('read-only');
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await rig?.close();
});

describe('read-only state directory under btn-node run (own tmpfs, swtpm, aedes)', () => {
  it.skipIf(!tmpfsSupport.ok)(`says EROFS once, retries, and seals once writable${tmpfsSupport.ok ? '' : ` (SKIPPED: ${tmpfsSupport.reason})`}`, { timeout: 120_000 }, async () => {
    const { path: config, stateDir, page } = await rig.config();
    agent = spawnAgent({ config, tmpfs: { dir: stateDir, bytes: 1024 * 1024, readOnly: true } });
    const a = agent;
    const fault = await until('the journal fault on the status page', async () => (await pageFaults(page))?.find((f) => f.key === 'seal journal'), 60_000, a);
    expect(fault.message).toContain('read-only file system');
    expect(fault.message).toContain('(EROFS)');
    expect(fault.message).toContain(join(stateDir, 'seal-journal'));
    await until('three attempts', () => a.lines.filter((l) => l['fault'] === 'seal journal').length >= 3, 30_000, a);
    // Said once at error with the page's text; the further attempts only at debug.
    expect(a.lines.filter((l) => l.level >= LEVEL.warn && l['fault'] === 'seal journal').map((l) => l.msg)).toEqual([fault.message]);
    expect(unescapeHtml(await getText(`${page}/`))).toContain(fault.message);
    const statusFault = (await pageFaults(page))!.find((f) => f.key === 'status file');
    expect(statusFault?.message).toBe(`status file not written: read-only file system: cannot write ${join(stateDir, 'status.json')} (EROFS)`);
    expect((await getText(`${page}/metrics`))).toMatch(/^btn_faults\{node="read-only"\} 2$/m);
    expect(a.child.exitCode).toBeNull();

    console.log(`read-only state directory, on stderr and the page: ${fault.message}`);
    await a.remount(stateDir, 'rw');
    await until('the agent running with no faults', async () => {
      const s = seen(await getJson(`${page}/status.json`));
      return s?.['state'] === 'running' && (s['faults'] as unknown[]).length === 0;
    }, 60_000, a);
    expect(a.lines.some((l) => l.level === LEVEL.info && l.msg === 'seal journal: ready')).toBe(true);
    expect((await getText(`${page}/metrics`))).toMatch(/^btn_faults\{node="read-only"\} 0$/m);

    await until('the broker connection', async () => (await getJson(`${page}/status.json`))?.['broker'].connected, 30_000, a);
    const b = rig.block(1, rig.genesisHash);
    await rig.watcher.publish(rig.topics.candidates, JSON.stringify(blockToJson(b)), { qos: 1 });
    await until('a seal once writable', () => rig.seals.some((s) => hex(s.blockHash) === hex(blockHash(b.header))), 30_000, a);
    expect(await a.stop()).toBe(0);
    agent = null;
  });
});
