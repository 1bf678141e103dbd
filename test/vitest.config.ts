import { defineConfig } from 'vitest/config';

// Files that only compute or touch their own temp files: no processes, servers, sockets, TPMs,
// environment changes or module mocks. They run without per-file isolation (one module cache per
// worker): 33 of these files took 5.6 s instead of 8.4 s of wall time here (2 cores, loaded).
// Every other file gets a fresh process. A file that starts anything belongs in the second list.
const UNIT = [
  'test/board/board-config.test.ts',
  'test/firmware/activation/state.test.ts',
  'test/firmware/core/backoff.test.ts',
  'test/firmware/core/core.test.ts',
  'test/firmware/core/errors.test.ts',
  'test/firmware/core/json.test.ts',
  'test/firmware/core/manual-clock.test.ts',
  'test/firmware/devnet/committee.test.ts',
  'test/firmware/devnet/primary-unit.test.ts',
  'test/firmware/index.test.ts',
  'test/firmware/led/status-led.test.ts',
  'test/firmware/protocol/chain/*.test.ts',
  'test/firmware/protocol/competing-seal.test.ts',
  'test/firmware/protocol/identity.test.ts',
  'test/firmware/protocol/messages.test.ts',
  'test/firmware/protocol/quorum.test.ts',
  'test/firmware/protocol/registration-authority.test.ts',
  'test/firmware/protocol/registration.test.ts',
  'test/firmware/protocol/seal-check.test.ts',
  'test/firmware/sealing/engine.test.ts',
  'test/firmware/sealing/journal-faults.test.ts',
  'test/firmware/sealing/journal.test.ts',
  'test/firmware/sealing/seal-signer.test.ts',
  'test/firmware/status/headline.test.ts',
  'test/firmware/status/history.test.ts',
  'test/firmware/status/node-status.test.ts',
  'test/firmware/transport/btncmd-frame.test.ts',
  'test/firmware/transport/topics.test.ts',
  'test/firmware/update/health.test.ts',
  'test/firmware/update/install.test.ts',
  'test/firmware/update/software.test.ts',
  'test/firmware/update/version.test.ts',
  'test/provisioning/commit-queue.test.ts',
  'test/provisioning/activation-rules.test.ts',
  'test/provisioning/keys.test.ts',
  'test/provisioning/openapi.test.ts',
  'test/tpm/handles.test.ts',
];
const NOT_FAST = ['test/**/*.slow.test.ts', 'test/**/*.image.test.ts', 'node_modules/**'];

// Fast and integration suites. Slow suites (10,000-signature leak checks, crash loops, image
// boots) live in *.slow.test.ts and run through `npm run test:slow`.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most suites wait on real processes (swtpm, brokers, child agents) rather than compute:
    // two files at a time keep both cores of a 2-core machine busy (vitest's default here is one).
    maxWorkers: 2,
    globalSetup: ['test/postgres-setup.ts', 'test/swtpm-templates.ts'],
    setupFiles: ['test/fast-check-seed.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, exclude: NOT_FAST, isolate: false } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...NOT_FAST, ...UNIT] } },
    ],
  },
});
