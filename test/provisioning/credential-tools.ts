// tpm2-tools side of the credential cross-checks: the tools' credential file format and
// tpm2_activatecredential with the EK authorized through a PolicySecret(endorsement) session.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tpm2 } from '../tpm/helpers.ts';

/** tpm2-tools credential file: u32 magic 0xBADCC0DE, u32 version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET. */
export function credentialFile(cred: { credentialBlob: Uint8Array; encryptedSecret: Uint8Array }): Uint8Array {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0xbadcc0de, 0);
  head.writeUInt32BE(1, 4);
  return new Uint8Array(Buffer.concat([head, cred.credentialBlob, cred.encryptedSecret]));
}

/** Runs tpm2_activatecredential on `tcti` for the object at `keyHandle` and the EK at 0x81010001. */
export async function toolsActivate(
  tcti: string,
  dir: string,
  cred: { credentialBlob: Uint8Array; encryptedSecret: Uint8Array },
  tag: string,
  keyHandle = '0x81000b70',
): Promise<Uint8Array> {
  await writeFile(join(dir, `${tag}.cred`), credentialFile(cred));
  const session = `${tag}.session`;
  await tpm2('tpm2_startauthsession', ['-T', tcti, '--policy-session', '-S', session], { cwd: dir });
  try {
    // The EK (template L-1) has an empty userAuth and a PolicySecret(TPM_RH_ENDORSEMENT) policy.
    await tpm2('tpm2_policysecret', ['-T', tcti, '-S', session, '-c', 'e'], { cwd: dir });
    await tpm2('tpm2_activatecredential', ['-T', tcti, '-c', keyHandle, '-C', '0x81010001', '-i', `${tag}.cred`, '-o', `${tag}.secret`, '-P', `session:${session}`], { cwd: dir });
  } finally {
    await tpm2('tpm2_flushcontext', ['-T', tcti, session], { cwd: dir }).catch(() => undefined);
  }
  return new Uint8Array(await readFile(join(dir, `${tag}.secret`)));
}
