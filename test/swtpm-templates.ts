// vitest global setup: manufacture a pool of swtpm TPMs once per run (swtpm_setup with EK and
// platform certificates costs about 1.4 s of CPU per TPM here), and let every test copy one
// (tpm/swtpm.ts, BTN_SWTPM_TEMPLATES). Each test still gets its own TPM process and state; TPMs
// that share a CA directory get distinct templates, so a network's EKs always differ.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manufactureTemplates, SWTPM_TEMPLATES_ENV } from '../tpm/swtpm.ts';

/** The most TPMs a single test starts under one CA directory (the 4-node devnets and activation e2e). */
const TEMPLATES = 6;

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env[SWTPM_TEMPLATES_ENV]) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'btn-swtpm-templates-'));
  const started = Date.now();
  await manufactureTemplates(dir, TEMPLATES);
  process.env[SWTPM_TEMPLATES_ENV] = dir;
  console.log(`swtpm-templates: ${TEMPLATES} TPMs manufactured in ${Date.now() - started} ms (${dir})`);
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
