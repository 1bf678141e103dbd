// A child for journal-lock-race.test.ts, one of a pool kept for all trials. On { open, path, at }
// it waits for the instant `at` (shared with the other contenders, so all open together), opens
// the seal journal and reports whether it holds it, with the refusal's code and message; on
// { close } it closes what it holds. It prints nothing else.
import { pino } from 'pino';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';

type Order = { readonly kind: 'open'; readonly trial: number; readonly path: string; readonly at: number } | { readonly kind: 'close' };

const logger = pino({ level: 'silent' });
let held: SealJournal | null = null;
const send = (m: object): void => {
  process.send!(m);
};

process.on('message', (m: Order) => {
  void (async () => {
    if (m.kind === 'close') {
      await held?.close();
      held = null;
      send({ kind: 'closed' });
      return;
    }
    // Spin, not sleep: a timer would wake the contenders milliseconds apart.
    while (performance.timeOrigin + performance.now() < m.at) { /* wait for the shared instant */ }
    const startedAt = performance.timeOrigin + performance.now();
    try {
      held = await openSealJournal(m.path, { logger, preallocateBytes: 0 });
      send({ kind: 'result', trial: m.trial, pid: process.pid, startedAt, held: true });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      send({ kind: 'result', trial: m.trial, pid: process.pid, startedAt, held: false, code: e.code, message: e.message });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
send({ kind: 'ready', pid: process.pid });
