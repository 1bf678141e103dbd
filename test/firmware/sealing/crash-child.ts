// Child process of journal-crash.test.ts: makes seal decisions as fast as it can and reports
// each one on stdout only AFTER the journal call returned (what a TPM would act on).
import { createHash } from 'node:crypto';
import { openSealJournal } from '../../../firmware/sealing/journal.ts';

const [path, seedText] = process.argv.slice(2);
let seed = Number(seedText) >>> 0 || 1;
// The high bits of the LCG: its low bits repeat with short periods, which tied each height to one
// clerk and variant and left re-drawn blocks untried.
const rand = (n: number): number => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return (seed >>> 16) % n;
};
const hash = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());
const clerks = ['c'.repeat(64), 'd'.repeat(64)];

const journal = await openSealJournal(path!);
process.stdout.write('ready\n');
for (;;) {
  // Above the finalized height, which it raises now and then: decisions go on in every run.
  const height = journal.finalizedHeight + 1 + rand(60);
  const clerk = clerks[rand(2)]!;
  const variant = `v${rand(3)}`;
  const blockHash = hash(`${height}/${clerk}/${variant}`);
  const r = await journal.checkAndRecord({ height, clerk, blockHash });
  if (r.ok) {
    process.stdout.write(`ok ${height} ${clerk} ${variant}\n`);
    if (r.seal === undefined && rand(2) === 0) {
      const signature = hash(`sig ${height} ${variant}`);
      await journal.recordSeal({ height, clerk, blockHash, round: rand(5), signature: new Uint8Array([...signature, ...signature]) });
      process.stdout.write(`seal ${height} ${clerk} ${variant}\n`);
    }
  }
  if (rand(40) === 0) await journal.setFinalized(Math.max(0, journal.finalizedHeight + 1));
}
