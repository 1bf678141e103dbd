// Synthetic TPM-vendor CAs made with the openssl CLI (node:crypto verifies certificates but
// cannot issue them): a root, intermediates with or without the CA extensions, and EK
// certificates for a given public key (`-force_pubkey`, the EK's own key read from a TPM).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  /** PEM of the certificate. */
  readonly pem: string;
  readonly der: Uint8Array;
  readonly keyFile: string;
  readonly certFile: string;
}

export type CaExtensions = 'ca' | 'ca-pathlen-0' | 'not-ca' | 'no-cert-sign';

const EXTENSIONS: Record<CaExtensions, string> = {
  'ca': 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n',
  'ca-pathlen-0': 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n',
  'not-ca': 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyCertSign,cRLSign\n',
  'no-cert-sign': 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\n',
};

const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

function loaded(certFile: string, keyFile: string): TestCa {
  const pem = readFileSync(certFile, 'utf8');
  const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  return { pem, der, keyFile, certFile };
}

/** A self-signed P-256 root CA in `dir` under `name`. */
export function makeRoot(dir: string, name: string, subject: string): TestCa {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-subj', subject, '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash']);
  return loaded(certFile, keyFile);
}

/** A certificate issued by `issuer`: an intermediate CA (its own new key) or, with `publicKeyPem`, an EK certificate for that key. */
export function issue(dir: string, name: string, issuer: TestCa, options: { subject: string; extensions?: CaExtensions; publicKeyPem?: string; days?: number }): TestCa {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', options.subject]);
  const leaf = options.publicKeyPem !== undefined;
  writeFileSync(ext, `[v3]\n${leaf ? 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\n' : EXTENSIONS[options.extensions ?? 'ca']}subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`);
  const args = ['x509', '-req', '-in', csr, '-CA', issuer.certFile, '-CAkey', issuer.keyFile, '-CAcreateserial', '-out', certFile, '-days', String(options.days ?? 3650), '-sha256', '-extfile', ext, '-extensions', 'v3'];
  if (leaf) {
    const pub = join(dir, `${name}.pub.pem`);
    writeFileSync(pub, options.publicKeyPem!);
    args.push('-force_pubkey', pub);
  }
  openssl(args);
  return loaded(certFile, keyFile);
}
