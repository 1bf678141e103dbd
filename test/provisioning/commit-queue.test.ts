// The group-commit queue on its own: which writes share a commit, how many, and who learns of a
// failure. The commit function is a stub recording its groups (the stores are tested for real
// in store.test.ts and group-commit-durability.test.ts).
import { describe, expect, it } from 'vitest';
import { CommitQueue, type Settled } from '../../provisioning/store/commit-queue.ts';

/** A commit whose groups stay in flight until released. */
function gatedCommit(): { groups: number[][]; release: () => void; commit: (items: readonly number[]) => Promise<Settled<number>[]> } {
  const groups: number[][] = [];
  const gates: (() => void)[] = [];
  return {
    groups,
    release: () => gates.shift()?.(),
    commit: async (items) => {
      groups.push([...items]);
      await new Promise<void>((r) => gates.push(r));
      return items.map((i) => (i < 0 ? { ok: false, error: new Error(`refused ${i}`) } : { ok: true, value: i * 10 }));
    },
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CommitQueue', () => {
  it('writes of one event-loop turn share a commit; writes arriving while it is in flight go together into the next', async () => {
    const g = gatedCommit();
    const q = new CommitQueue(g.commit);
    const first = [1, 2, 3].map((i) => q.push(i));
    await turn();
    expect(g.groups).toEqual([[1, 2, 3]]);
    const second = [4, 5].map((i) => q.push(i));
    await turn();
    // still one group in flight: 4 and 5 wait for it
    expect(g.groups).toEqual([[1, 2, 3]]);
    expect(q.waiting).toBe(2);
    g.release();
    expect(await Promise.all(first)).toEqual([10, 20, 30]);
    await turn();
    expect(g.groups).toEqual([[1, 2, 3], [4, 5]]);
    g.release();
    expect(await Promise.all(second)).toEqual([40, 50]);
  });

  it('answers no write before its group committed', async () => {
    const g = gatedCommit();
    const q = new CommitQueue(g.commit);
    let settled = false;
    const p = q.push(7).then(() => { settled = true; });
    for (let i = 0; i < 5; i++) await turn();
    expect(settled).toBe(false);
    g.release();
    await p;
    expect(settled).toBe(true);
  });

  it('bounds a group by count; the rest follow in the next groups', async () => {
    const g = gatedCommit();
    const q = new CommitQueue(g.commit, { max: 2 });
    const all = [1, 2, 3, 4, 5].map((i) => q.push(i));
    await turn();
    for (let i = 0; i < 3; i++) {
      g.release();
      await new Promise((r) => setTimeout(r, 0));
      await turn();
    }
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50]);
    expect(g.groups).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('a refused write fails alone; the others of its group succeed', async () => {
    const g = gatedCommit();
    const q = new CommitQueue(g.commit);
    const all = Promise.allSettled([1, -2, 3].map((i) => q.push(i)));
    await turn();
    g.release();
    const r = await all;
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((r[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'refused -2' });
    expect(g.groups).toEqual([[1, -2, 3]]);
  });

  it('a commit that throws fails its whole group with the wrapped error, and the queue goes on', async () => {
    let calls = 0;
    const q = new CommitQueue<number, number>((items) => {
      if (calls++ === 0) throw new Error('disk gone');
      return items.map((i) => ({ ok: true, value: i }));
    }, { wrapError: (e) => new Error(`store: ${(e as Error).message}`) });
    const failed = await Promise.allSettled([q.push(1), q.push(2)]);
    expect(failed.map((x) => x.status === 'rejected' && (x.reason as Error).message)).toEqual(['store: disk gone', 'store: disk gone']);
    expect(await q.push(3)).toBe(3);
  });

  it('a commit giving the wrong number of outcomes fails the group instead of answering the wrong callers', async () => {
    const q = new CommitQueue<number, number>(() => [{ ok: true, value: 1 }]);
    const r = await Promise.allSettled([q.push(1), q.push(2)]);
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
  });

  it('keeps at most `concurrency` groups in flight', async () => {
    const g = gatedCommit();
    const q = new CommitQueue(g.commit, { concurrency: 2, max: 1 });
    const all = [1, 2, 3].map((i) => q.push(i));
    for (let i = 0; i < 4; i++) await turn();
    expect(g.groups).toEqual([[1], [2]]);
    g.release();
    await all[0];
    for (let i = 0; i < 4; i++) await turn();
    expect(g.groups).toEqual([[1], [2], [3]]);
    g.release();
    g.release();
    expect(await Promise.all(all)).toEqual([10, 20, 30]);
  });

  it('refuses a group bound or a concurrency that is not a positive integer', () => {
    expect(() => new CommitQueue(() => [], { max: 0 })).toThrow(RangeError);
    expect(() => new CommitQueue(() => [], { concurrency: 1.5 })).toThrow(RangeError);
  });
});
