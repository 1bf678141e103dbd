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

/**
 * Runs tpm2_activatecredential on `tcti` for the object at `keyHandle` and an EK: the RSA EK at
 * 0x81010001 (template L-1: empty userAuth, no userWithAuth, so a PolicySecret(endorsement)
 * session) by default, or one given with `auth: 'password'` (swtpm's ECC P-384 EK at 0x81010016
 * has userWithAuth and an empty auth value).
 */
export async function toolsActivate(
  tcti: string,
  dir: string,
  cred: { credentialBlob: Uint8Array; encryptedSecret: Uint8Array },
  tag: string,
  keyHandle = '0x81000b70',
  ek: { readonly handle: string; readonly auth: 'policy' | 'password' } = { handle: '0x81010001', auth: 'policy' },
): Promise<Uint8Array> {
  await writeFile(join(dir, `${tag}.cred`), credentialFile(cred));
  const activate = (auth: string): Promise<string> =>
    tpm2('tpm2_activatecredential', ['-T', tcti, '-c', keyHandle, '-C', ek.handle, '-i', `${tag}.cred`, '-o', `${tag}.secret`, '-P', auth], { cwd: dir });
  if (ek.auth === 'password') {
    await activate('');
  } else {
    const session = `${tag}.session`;
    await tpm2('tpm2_startauthsession', ['-T', tcti, '--policy-session', '-S', session], { cwd: dir });
    try {
      await tpm2('tpm2_policysecret', ['-T', tcti, '-S', session, '-c', 'e'], { cwd: dir });
      await activate(`session:${session}`);
    } finally {
      await tpm2('tpm2_flushcontext', ['-T', tcti, session], { cwd: dir }).catch(() => undefined);
    }
  }
  return new Uint8Array(await readFile(join(dir, `${tag}.secret`)));
}
