// Entry of the manifest line-check worker when the sources run (tests, tsx): loads
// line-check-thread.ts through tsx. The registrar bundle ships its own line-check-worker.js,
// line-check-thread.ts built by esbuild, in this file's place beside the bundle.
import { register } from 'tsx/esm/api';

register();
await import('./line-check-thread.ts');
