// Real devices for provisioning tests: swtpm TPMs manufactured by a CA directory of the test's
// own (its PEM files become the trust roots), each with a sealing key, read like the factory does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTpm, toTpm2bPublic, type Tpm } from '../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../tpm/swtpm.ts';
import { rsaPublicArea, parsePublic } from '../../tpm/public-area.ts';

export interface TestDevice {
  readonly sw: SwtpmInstance;
  tpm: Tpm | null;
  readonly line: { serial: string; board: string; ekPublic: string; ekCertificate: string; sealingPublic: string };
}

export interface DeviceLab {
  readonly caDir: string;
  readonly devices: TestDevice[];
  /** Closes TPM contexts (keeps the emulators for later use) */
  closeTpms(): Promise<void>;
  destroy(): Promise<void>;
}

export async function makeTmpDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Start `count` swtpm TPMs under one CA directory; `keepOpen` keeps TPM contexts for activation. */
export async function startDevices(count: number, options: { caDir?: string; serialPrefix?: string; keepOpen?: boolean } = {}): Promise<DeviceLab> {
  const ownsCa = options.caDir === undefined;
  const caDir = options.caDir ?? (await makeTmpDir('btn-prov-ca-'));
  const devices: TestDevice[] = [];
  try {
    // One after another: swtpm_setup of the first creates the CA files the others reuse.
    for (let i = 0; i < count; i++) {
      const sw = await startSwtpm({ caDir });
      const tpm = await openTpm({ tcti: sw.tcti });
      const key = await tpm.ensureSealingKey();
      const ek = await tpm.ekPublic();
      const cert = await tpm.readEkCertificate();
      if (cert === null) throw new Error('swtpm has no EK certificate');
      devices.push({
        sw,
        tpm,
        line: {
          serial: `${options.serialPrefix ?? 'SN'}-${i}`,
          board: 'rpi4',
          ekPublic: Buffer.from(toTpm2bPublic(ek.bytes)).toString('hex'),
          ekCertificate: Buffer.from(cert).toString('base64'),
          sealingPublic: Buffer.from(toTpm2bPublic(key.public.bytes)).toString('hex'),
        },
      });
      if (options.keepOpen !== true) {
        await tpm.close();
        devices[devices.length - 1]!.tpm = null;
      }
    }
  } catch (err) {
    for (const d of devices) {
      await d.tpm?.close().catch(() => undefined);
      await d.sw.destroy().catch(() => undefined);
    }
    throw err;
  }
  const closeTpms = async (): Promise<void> => {
    for (const d of devices) {
      await d.tpm?.close().catch(() => undefined);
      d.tpm = null;
    }
  };
  return {
    caDir,
    devices,
    closeTpms,
    async destroy() {
      await closeTpms();
      for (const d of devices) await d.sw.destroy().catch(() => undefined);
      if (ownsCa) await rm(caDir, { recursive: true, force: true });
    },
  };
}

/** The same sealing key's public area with other attributes (for bad-attribute lines). */
export function withAttributes(sealingPublicHex: string, objectAttributes: number): string {
  const pub = parsePublic(new Uint8Array(Buffer.from(sealingPublicHex, 'hex')));
  const area = rsaPublicArea({
    nameAlg: pub.nameAlg, objectAttributes, authPolicy: pub.authPolicy, symmetric: pub.rsa!.symmetric,
    scheme: pub.rsa!.scheme, keyBits: pub.rsa!.keyBits, exponent: pub.rsa!.exponent, unique: pub.rsa!.modulus,
  });
  return Buffer.from(toTpm2bPublic(area)).toString('hex');
}

export const jsonl = (lines: readonly (object | string)[]): Uint8Array =>
  new Uint8Array(Buffer.from(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)) + '\n').join('')));
