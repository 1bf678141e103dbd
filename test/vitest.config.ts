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
    globalSetup: ['test/postgres-setup.ts', 'test/swtpm-templates.ts'],
  },
});
