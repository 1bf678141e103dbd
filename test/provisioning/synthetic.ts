// Synthetic batch lines for volume tests and benchmarks. Each line has its own EK name (the EK
// public area's authPolicy carries the index) and its own sealing key public area (a random
// RSA-2048 modulus under the sealing-key template): distinct EK names and node ids. The EK key
// and certificate are the template's real swtpm ones, or with `eks` line i takes eks[i % length]
// (certificates minted under the test CA, test/provisioning/software-ek.ts), so every line up to
// eks.length carries a certificate of its own.
import { createHash } from 'node:crypto';
import { randomModulus, type SoftwareEk } from './software-ek.ts';
import { parsePublic, rsaPublicArea, toTpm2bPublic } from '../../tpm/public-area.ts';
import { SEALING_KEY_ATTRIBUTES } from '../../tpm/templates.ts';
import { TPM_ALG } from '../../tpm/constants.ts';

export interface DeviceLine { serial: string; board: string; ekPublic: string; ekCertificate: string; sealingPublic: string }

export function syntheticLines(template: DeviceLine, count: number, options: { prefix?: string; eks?: readonly SoftwareEk[] } = {}): string[] {
  const ek = parsePublic(new Uint8Array(Buffer.from(template.ekPublic, 'hex')));
  const rsa = ek.rsa!;
  const prefix = options.prefix ?? 'SYN';
  const eks = options.eks ?? [];
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const own = eks.length === 0 ? undefined : eks[i % eks.length]!;
    const policy = new Uint8Array(createHash('sha256').update(`${prefix} ${i}`).digest());
    const ekArea = rsaPublicArea({
      nameAlg: ek.nameAlg, objectAttributes: ek.objectAttributes, authPolicy: policy, symmetric: rsa.symmetric, scheme: rsa.scheme,
      keyBits: rsa.keyBits, exponent: rsa.exponent, unique: own?.modulus ?? rsa.modulus,
    });
    const modulus = randomModulus();
    const sealing = rsaPublicArea({
      nameAlg: TPM_ALG.SHA256, objectAttributes: SEALING_KEY_ATTRIBUTES, symmetric: { algorithm: TPM_ALG.NULL },
      scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 }, keyBits: 2048, unique: modulus,
    });
    lines.push(JSON.stringify({
      serial: `${prefix}-${i}`, board: template.board, ekPublic: Buffer.from(toTpm2bPublic(ekArea)).toString('hex'),
      ekCertificate: own?.certificate ?? template.ekCertificate, sealingPublic: Buffer.from(toTpm2bPublic(sealing)).toString('hex'),
    }));
  }
  return lines;
}

export const manifestBytes = (lines: readonly string[]): Uint8Array => new Uint8Array(Buffer.from(lines.join('\n') + '\n'));
