import { defineConfig } from 'vitest/config';

// Fast and integration suites. Slow suites (10,000-signature leak checks, crash loops, image
// boots) live in *.slow.test.ts and run through `npm run test:slow`.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    exclude: ['test/**/*.slow.test.ts', 'test/**/*.image.test.ts', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most suites wait on real processes (swtpm, brokers, child agents) rather than compute:
    // two files at a time keep both cores of a 2-core machine busy (vitest's default here is one).
    maxWorkers: 2,
    globalSetup: ['test/postgres-setup.ts', 'test/swtpm-templates.ts'],
    setupFiles: ['test/fast-check-seed.ts'],
  },
});
