// vitest setup file: a failing fast-check property prints its seed; BTN_TEST_SEED=<n> replays
// it (the same variable the crash tests read, test/seed.ts). fast-check is loaded only then.
const seed = Number(process.env['BTN_TEST_SEED']);
if (process.env['BTN_TEST_SEED'] !== undefined && Number.isSafeInteger(seed)) {
  const fc = await import('fast-check');
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
}
