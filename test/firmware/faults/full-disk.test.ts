// Bad input and faults: the state directory on a file system that is full at start
// and fills up again while the node runs. `btn-node run` (a child process on a 1 MiB tmpfs of
// its own, swtpm, aedes) must say once, on stderr and on its status page, that the disk is full
// and where; wait instead of crash-looping; never publish a seal whose decision did not reach
// the journal; leave the journal readable; and recover by itself once space is freed.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockHash, blockToJson, type Block } from '../../../firmware/protocol/chain/block.ts';
import { scanJournal } from '../../../firmware/sealing/journal-record.ts';
import { fillUp, getJson, getText, LEVEL, pageFaults, remove, seen, spawnAgent, tmpfsSupport, unescapeHtml, until, type AgentChild } from './harness.ts';
import { startRig, type Rig } from './rig.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
let rig: Rig;
let agent: AgentChild | null = null;

beforeAll(async () => {
  if (tmpfsSupport.ok) rig = await startRig('full-disk');
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await rig?.close();
});

describe('full disk under btn-node run (own tmpfs, swtpm, aedes)', () => {
  it.skipIf(!tmpfsSupport.ok)(`full at start, full while running: one clear message, no unjournaled seal, recovery without restart${tmpfsSupport.ok ? '' : ` (SKIPPED: ${tmpfsSupport.reason})`}`, { timeout: 180_000 }, async () => {
    const { watcher, topics, seals, genesisHash } = rig;
    const { path: config, stateDir, page } = await rig.config();
    const journalPath = join(stateDir, 'seal-journal');

    // 1. Full at start: the journal cannot be opened; the node waits and says why, once.
    agent = spawnAgent({ config, tmpfs: { dir: stateDir, bytes: 1024 * 1024, fill: true } });
    const a = agent;
    const startFault = await until('the journal fault on the status page', async () => (await pageFaults(page))?.find((f) => f.key === 'seal journal'), 60_000, a);
    expect(startFault.message).toMatch(/disk full/);
    expect(startFault.message).toContain(journalPath);
    expect(startFault.message).toContain('ENOSPC');
    // Retried several times (debug), said once (error), with the very text of the page.
    await until('three attempts', () => a.lines.filter((l) => l['fault'] === 'seal journal').length >= 3, 30_000, a);
    expect(a.lines.filter((l) => l.level >= LEVEL.warn && l.msg === startFault.message)).toHaveLength(1);
    expect(a.lines.filter((l) => l.level >= LEVEL.warn && l['fault'] === 'seal journal')).toHaveLength(1);
    const html = unescapeHtml(await getText(`${page}/`));
    expect(html).toContain(startFault.message);
    expect((await getJson(`${page}/status.json`))?.['activation'].reason).toContain('disk full');
    // status.json cannot be written either; that is one more fault, also said once.
    const statusFault = (await pageFaults(page))!.find((f) => f.key === 'status file');
    expect(statusFault?.message).toContain(join(stateDir, 'status.json'));
    expect(a.child.exitCode).toBeNull();

    console.log(`full at start, on stderr and the page: ${startFault.message}`);
    await remove(a.inside(join(stateDir, 'ballast')));
    await until('the agent running with no faults', async () => {
      const s = seen(await getJson(`${page}/status.json`));
      return s?.['state'] === 'running' && (s['faults'] as unknown[]).length === 0;
    }, 60_000, a);
    expect(a.lines.some((l) => l.level === LEVEL.info && l.msg === 'seal journal: ready')).toBe(true);
    expect(a.lines.some((l) => l.level === LEVEL.info && l.msg === 'status file: written again')).toBe(true);

    // 2. Full while running: seal height after height until the journal's reserved space is used.
    await until('the broker connection', async () => (await getJson(`${page}/status.json`))?.['broker'].connected, 30_000, a);
    const filled = await fillUp(a.inside(join(stateDir, 'ballast')));
    expect(filled).toBeGreaterThan(0);
    let tip: Uint8Array = genesisHash;
    let failed: Block | null = null;
    for (let h = 1; h <= 300 && failed === null; h++) {
      const b = rig.block(h, tip);
      const hash = hex(blockHash(b.header));
      await watcher.publish(topics.candidates, JSON.stringify(blockToJson(b)), { qos: 1 });
      const outcome = await until(`seal or journal fault at height ${h}`, async () => {
        if (seals.some((s) => hex(s.blockHash) === hash)) return 'sealed';
        const s = seen(await getJson(`${page}/status.json`));
        return (s?.['faults'] as { key: string }[] | undefined)?.some((f) => f.key === 'seal journal') ? 'down' : null;
      }, 30_000, a);
      if (outcome === 'down') {
        failed = b;
        break;
      }
      await watcher.publish(topics.final, rig.final(b), { qos: 1 });
      await until(`tip ${h}`, async () => (await getJson(`${page}/status.json`))?.['chain'].height === h, 30_000, a);
      tip = blockHash(b.header);
    }
    expect(failed, 'the journal never ran out of space').not.toBeNull();
    const down = (await pageFaults(page))!.find((f) => f.key === 'seal journal')!;
    expect(down.code).toBe('ERR_JOURNAL_UNAVAILABLE');
    expect(down.message).toMatch(/^not sealing: seal journal append failed: disk full/);
    expect(down.message).toContain(`${journalPath} (ENOSPC)`);
    expect(a.lines.filter((l) => l.level >= LEVEL.warn && l.msg === down.message)).toHaveLength(1);
    expect(unescapeHtml(await getText(`${page}/`))).toContain(down.message);
    // A decision that did not reach the disk is never acted on; nor is a candidate while down.
    const failedHash = hex(blockHash(failed!.header));
    const h = failed!.header.height;
    await watcher.publish(topics.final, rig.final(failed!), { qos: 1 });
    await until(`tip ${h}`, async () => (await getJson(`${page}/status.json`))?.['chain'].height === h, 30_000, a);
    const whileDown = rig.block(h + 1, blockHash(failed!.header));
    await watcher.publish(topics.candidates, JSON.stringify(blockToJson(whileDown)), { qos: 1 });
    await until('the candidate refused while the journal is down', async () => ((await getJson(`${page}/status.json`))?.['rejected']['journal-unavailable'] ?? 0) >= 1, 30_000, a);
    expect(seals.filter((s) => hex(s.blockHash) === failedHash || hex(s.blockHash) === hex(blockHash(whileDown.header)))).toHaveLength(0);
    expect(a.child.exitCode).toBeNull();

    // 3. Space freed: the journal reopens by itself (no restart) and the node seals again.
    console.log(`full while running after ${h - 1} sealed heights, on stderr and the page: ${down.message}`);
    const freedAt = Date.now();
    await remove(a.inside(join(stateDir, 'ballast')));
    await until('the faults to clear', async () => (await pageFaults(page))?.length === 0, 60_000, a);
    console.log(`space freed: journal writable again and sealing after ${Date.now() - freedAt} ms (reopen backoff 0.5 s doubling to 10 s)`);
    expect(a.lines.some((l) => l.level === LEVEL.info && l.msg === 'seal journal: writable again; sealing resumes')).toBe(true);
    const again = rig.block(h + 1, blockHash(failed!.header), 1);
    await watcher.publish(topics.candidates, JSON.stringify(blockToJson(again)), { qos: 1 });
    await until('a seal after recovery', () => seals.some((s) => hex(s.blockHash) === hex(blockHash(again.header))), 30_000, a);
    expect(a.pid).toBe((await getJson(`${page}/status.json`))?.['pid']);

    // The journal on the tmpfs is whole, and every seal ever published is recorded in it.
    const scan = scanJournal(new Uint8Array(await readFile(a.inside(journalPath))), journalPath);
    expect(scan.torn).toBeNull();
    const recorded = new Set(scan.records.flatMap(({ record }) => (record.k === 's' ? [record.s] : [])));
    expect(seals.length).toBeGreaterThan(10);
    for (const s of seals) expect(recorded.has(hex(s.signature))).toBe(true);

    expect(await a.stop()).toBe(0);
    agent = null;
  });
});
