// MakeCredential through tpm2-tools (`tpm2_makecredential -T none`, software only): an
// implementation no one here wrote, used to test the registrar's activation path and to
// cross-check the project's own MakeCredential.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toTpm2bPublic, type TpmPublic } from '../../tpm/public-area.ts';

export function tpm2ToolsMakeCredential(input: { ekPublic: TpmPublic; name: Uint8Array; secret: Uint8Array }): { credentialBlob: Uint8Array; encryptedSecret: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'btn-mkcred-'));
  try {
    writeFileSync(join(dir, 'ek.pub'), toTpm2bPublic(input.ekPublic.bytes));
    writeFileSync(join(dir, 'secret'), input.secret);
    execFileSync('tpm2_makecredential', ['-T', 'none', '-u', join(dir, 'ek.pub'), '-s', join(dir, 'secret'), '-n', Buffer.from(input.name).toString('hex'), '-o', join(dir, 'out')], { stdio: 'ignore' });
    const out = readFileSync(join(dir, 'out'));
    // tpm2-tools file: magic 0xBADCC0DE, version u32, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET
    if (out.readUInt32BE(0) !== 0xbadcc0de) throw new Error('unexpected tpm2_makecredential output');
    const idSize = out.readUInt16BE(8);
    const credentialBlob = new Uint8Array(out.subarray(8, 10 + idSize));
    const secSize = out.readUInt16BE(10 + idSize);
    const encryptedSecret = new Uint8Array(out.subarray(10 + idSize, 12 + idSize + secSize));
    return { credentialBlob, encryptedSecret };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
