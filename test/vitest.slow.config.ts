import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.slow.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two files at a time, as in the fast suite; the crash loops wait on child processes.
    maxWorkers: 2,
    globalSetup: ['test/postgres-setup.ts', 'test/swtpm-templates.ts'],
    setupFiles: ['test/fast-check-seed.ts'],
  },
});
