import { defineConfig } from 'vitest/config';

// The image boot test: builds an image with debootstrap (needs root and Debian's mirror) and
// boots it under QEMU. Minutes, not seconds: run by `npm run test:image`, not by `npm test`.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.image.test.ts'],
    testTimeout: 1_500_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
