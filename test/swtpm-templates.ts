// vitest global setup: manufacture a pool of swtpm TPMs once per run (swtpm_setup with EK and
// platform certificates costs about 1.4 s of CPU per TPM here), and let every test copy one
// (tpm/swtpm.ts, BTN_SWTPM_TEMPLATES). Each test still gets its own TPM process and state; TPMs
// that share a CA directory get distinct templates, so a network's EKs always differ, and two CA
// directories of one test file get different CAs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manufactureTemplates, SWTPM_TEMPLATES_ENV } from '../tpm/swtpm.ts';

/** CA directories one test file uses (a trusted and an untrusted vendor), and TPMs under one CA (the 4-node devnets). */
const GROUPS = 3;
const PER_GROUP = 4;

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env[SWTPM_TEMPLATES_ENV]) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'btn-swtpm-templates-'));
  const started = Date.now();
  // Made in the background while the first test files load and the files without a TPM run;
  // startSwtpm waits for the template it takes.
  const { done } = await manufactureTemplates(dir, GROUPS, PER_GROUP);
  const made = done.then(
    () => console.log(`swtpm-templates: ${GROUPS * PER_GROUP} TPMs under ${GROUPS} CAs manufactured in ${Date.now() - started} ms (${dir})`),
    (err: unknown) => console.error(`swtpm-templates: ${(err as Error).message}`),
  );
  process.env[SWTPM_TEMPLATES_ENV] = dir;
  return async () => {
    await made;
    await rm(dir, { recursive: true, force: true });
  };
}
