// Synthetic batch lines for volume tests and benchmarks: one real swtpm EK certificate and EK
// key reused, each line with its own EK name (the EK public area's authPolicy carries the index,
// so the key, and the certificate check, stay real) and its own sealing key public area (a
// random RSA-2048 modulus under the sealing-key template): distinct EK names and node ids.
import { createHash, randomBytes } from 'node:crypto';
import { parsePublic, rsaPublicArea, toTpm2bPublic } from '../../tpm/public-area.ts';
import { SEALING_KEY_ATTRIBUTES } from '../../tpm/templates.ts';
import { TPM_ALG } from '../../tpm/constants.ts';

export interface DeviceLine { serial: string; board: string; ekPublic: string; ekCertificate: string; sealingPublic: string }

export function syntheticLines(template: DeviceLine, count: number, prefix = 'SYN'): string[] {
  const ek = parsePublic(new Uint8Array(Buffer.from(template.ekPublic, 'hex')));
  const rsa = ek.rsa!;
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const policy = new Uint8Array(createHash('sha256').update(`${prefix} ${i}`).digest());
    const ekArea = rsaPublicArea({
      nameAlg: ek.nameAlg, objectAttributes: ek.objectAttributes, authPolicy: policy, symmetric: rsa.symmetric, scheme: rsa.scheme,
      keyBits: rsa.keyBits, exponent: rsa.exponent, unique: rsa.modulus,
    });
    const modulus = new Uint8Array(randomBytes(256));
    modulus[0]! |= 0x80;
    modulus[255]! |= 1;
    const sealing = rsaPublicArea({
      nameAlg: TPM_ALG.SHA256, objectAttributes: SEALING_KEY_ATTRIBUTES, symmetric: { algorithm: TPM_ALG.NULL },
      scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 }, keyBits: 2048, unique: modulus,
    });
    lines.push(JSON.stringify({
      serial: `${prefix}-${i}`, board: template.board, ekPublic: Buffer.from(toTpm2bPublic(ekArea)).toString('hex'),
      ekCertificate: template.ekCertificate, sealingPublic: Buffer.from(toTpm2bPublic(sealing)).toString('hex'),
    }));
  }
  return lines;
}

export const manifestBytes = (lines: readonly string[]): Uint8Array => new Uint8Array(Buffer.from(lines.join('\n') + '\n'));
