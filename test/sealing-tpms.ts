// Devices for tests that file and activate TPMs: each an swtpm (EK certificates under one test CA
// in caDir) opened through the binding with its sealing key made.
import { join } from 'node:path';
import { openTpm, type Tpm } from '../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../tpm/swtpm.ts';

export interface SealingTpms {
  readonly tpms: Tpm[];
  readonly swtpms: SwtpmInstance[];
  /** Closes every TPM and stops its swtpm. */
  close(): Promise<void>;
}

/** Starts `count` swtpms in dir (states tpm0, tpm1, ...; one CA in dir/ca), one after another. */
export async function startSealingTpms(dir: string, count: number): Promise<SealingTpms> {
  const tpms: Tpm[] = [];
  const swtpms: SwtpmInstance[] = [];
  const close = async (): Promise<void> => {
    for (const t of tpms) await t.close();
    for (const s of swtpms) await s.destroy();
  };
  try {
    for (let i = 0; i < count; i++) {
      const s = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, `tpm${i}`) });
      swtpms.push(s);
      const t = await openTpm({ tcti: s.tcti });
      tpms.push(t);
      await t.ensureSealingKey();
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { tpms, swtpms, close };
}
