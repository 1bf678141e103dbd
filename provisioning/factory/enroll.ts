// Enrolling one TPM at the factory (docs/activation.md step 1): read the EK public area, the EK
// certificate and the intermediates the TPM keeps in its EK chain NV indices, create the SRK and sealing key (the binding's `tpm init`), and append one
// manifest line. Everything the root node would reject is refused here, at the station, where
// the device is still on the bench.
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { checkEkSupported } from '../credential.ts';
import { ekNameOf } from '../manifest/index.ts';
import { MAX_CHAIN_CERT_BYTES, MAX_CHAIN_CERTS } from '../manifest/chain.ts';
import { nodeIdFromSpki } from '../../firmware/protocol/identity.ts';
import { ekProblem, sealingKeyProblem } from '../../tpm/key-rules.ts';
import { TpmError } from '../../tpm/errors.ts';
import { publicKeySpki, toTpm2bPublic, type TpmPublic } from '../../tpm/public-area.ts';
import type { SealingKeyInfo } from '../../tpm/tpm.ts';
import { appendBatchEntry, type BatchEntry } from './batch-file.ts';
import type { LockOptions } from './batch-lock.ts';
import { FactoryError } from './errors.ts';
import { toHex } from '../../firmware/core/bytes.ts';

/** The part of the binding's Tpm the station uses. */
export interface FactoryTpm {
  ekPublic(): Promise<TpmPublic>;
  readEkCertificate(): Promise<Uint8Array | null>;
  /** Intermediates from the EK certificate chain NV indices (0x01C00100-0x01C001FF), when the TPM keeps any. */
  readEkCertificateChain?(): Promise<Uint8Array[]>;
  ensureSealingKey(options?: { handle?: number }): Promise<SealingKeyInfo>;
}

export interface EnrollOptions {
  readonly tpm: FactoryTpm;
  readonly batchPath: string;
  readonly serial: string;
  readonly board: string;
  /** Persistent handle of the sealing key (default 0x81000B70). */
  readonly handle?: number;
  readonly lock?: LockOptions;
  readonly logger?: Logger;
}

export interface EnrollResult {
  readonly status: 'added' | 'already-enrolled';
  readonly serial: string;
  readonly board: string;
  /** SHA-256 of the EK's TPMT_PUBLIC (the registrar's key for the TPM), hex. */
  readonly ekName: string;
  /** SHA-256 of the sealing key's SPKI: the node id the root node will assign, hex. */
  readonly nodeId: string;
  readonly batch: string;
  readonly line: number;
}

const SERIAL = /^[A-Za-z0-9._:/-]{1,64}$/;
const BOARD = /^[A-Za-z0-9._-]{1,64}$/;

export function checkSerialBoard(serial: unknown, board: unknown): void {
  if (typeof serial !== 'string' || !SERIAL.test(serial)) throw new FactoryError('ERR_FACTORY_ARGUMENT', 'serial must be 1-64 characters of A-Z a-z 0-9 . _ : / -');
  if (typeof board !== 'string' || !BOARD.test(board)) throw new FactoryError('ERR_FACTORY_ARGUMENT', 'board must be 1-64 characters of A-Z a-z 0-9 . _ -');
}

async function tpmStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TpmError) throw new FactoryError('ERR_FACTORY_TPM', `${what}: ${err.message}`, { cause: err });
    throw err;
  }
}

export async function enrollDevice(options: EnrollOptions): Promise<EnrollResult> {
  const { tpm, batchPath, serial, board } = options;
  checkSerialBoard(serial, board);
  if (typeof batchPath !== 'string' || batchPath.length === 0) throw new FactoryError('ERR_FACTORY_ARGUMENT', 'a batch file path is required');
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'factory', serial });

  const ek = await tpmStep('reading the EK public key', () => tpm.ekPublic());
  const ekIssue = ekProblem(ek);
  if (ekIssue !== null) throw new FactoryError('ERR_FACTORY_EK_UNSUPPORTED', ekIssue);
  try {
    checkEkSupported(ek);
  } catch (err) {
    throw new FactoryError('ERR_FACTORY_EK_UNSUPPORTED', `the root node could not activate this TPM: ${(err as Error).message}`, { cause: err });
  }
  const cert = await tpmStep('reading the EK certificate', () => tpm.readEkCertificate());
  if (cert === null || cert.length === 0) {
    throw new FactoryError('ERR_FACTORY_NO_EK_CERT', 'this TPM has no EK certificate (NV 0x01C00002 for the RSA EK, 0x01C0000A or 0x01C00016 for an ECC EK); the root node rejects TPMs without one (provision the certificate first)');
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new FactoryError('ERR_FACTORY_EK_UNSUPPORTED', 'the EK certificate in NV is not an X.509 certificate', { cause: err });
  }
  if (Buffer.compare(x509.publicKey.export({ type: 'spki', format: 'der' }), publicKeySpki(ek)) !== 0) {
    throw new FactoryError('ERR_FACTORY_EK_UNSUPPORTED', 'the EK certificate in NV certifies another key than the EK');
  }

  const chain = tpm.readEkCertificateChain === undefined ? [] : await tpmStep('reading the EK certificate chain', () => tpm.readEkCertificateChain!());
  if (chain.length > MAX_CHAIN_CERTS) throw new FactoryError('ERR_FACTORY_EK_UNSUPPORTED', `the TPM's EK certificate chain holds ${chain.length} certificates; the root node takes at most ${MAX_CHAIN_CERTS}`);
  for (const [i, der] of chain.entries()) {
    if (der.length > MAX_CHAIN_CERT_BYTES) throw new FactoryError('ERR_FACTORY_EK_UNSUPPORTED', `certificate ${i + 1} of the TPM's EK certificate chain is ${der.length} bytes; the root node takes at most ${MAX_CHAIN_CERT_BYTES}`);
    try {
      if (!new X509Certificate(der).ca) throw new Error('not a CA');
    } catch (err) {
      throw new FactoryError('ERR_FACTORY_EK_UNSUPPORTED', `certificate ${i + 1} of the TPM's EK certificate chain is not an X.509 CA certificate`, { cause: err });
    }
  }

  const key = await tpmStep('creating the sealing key', () => tpm.ensureSealingKey(options.handle === undefined ? {} : { handle: options.handle }));
  const sealProblem = sealingKeyProblem(key.public);
  if (sealProblem !== null) throw new FactoryError('ERR_FACTORY_SEALING_KEY', `sealing key at 0x${key.handle.toString(16)}: ${sealProblem}`);

  const entry: BatchEntry = {
    serial,
    board,
    ekPublic: toHex(toTpm2bPublic(ek.bytes)),
    ekCertificate: Buffer.from(cert).toString('base64'),
    ...(chain.length === 0 ? {} : { ekChain: chain.map((c) => Buffer.from(c).toString('base64')) }),
    sealingPublic: toHex(toTpm2bPublic(key.public.bytes)),
  };
  const appended = await appendBatchEntry(batchPath, entry, options.lock === undefined ? {} : { lock: options.lock });
  if (appended.droppedTornBytes > 0) log.warn({ bytes: appended.droppedTornBytes }, 'dropped a torn last line of the batch (a station stopped mid-write)');
  const result: EnrollResult = {
    status: appended.status,
    serial,
    board,
    ekName: ekNameOf(ek),
    nodeId: nodeIdFromSpki(publicKeySpki(key.public)),
    batch: batchPath,
    line: appended.line,
  };
  log.info({ status: result.status, line: result.line, ekName: result.ekName }, 'enrolled');
  return result;
}
