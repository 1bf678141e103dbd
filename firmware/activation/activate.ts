// Device activation (docs/activation.md step 2): send the EK and sealing key public areas, recover the
// challenge secret with TPM2_ActivateCredential, prove it, and keep the registration
// certificate in activation.json before anything acts on it. Idempotent: an active node
// returns its stored state without contacting the root, unless it renews: then it runs the same
// challenge and proof again (re-activation) for a fresh certificate and broker credential.
import type { Logger } from 'pino';
import pino from 'pino';
import { verifyRegistrationCertificate } from '../protocol/registration.ts';
import { TpmError } from '../../tpm/errors.ts';
import { publicKeySpki, toTpm2bPublic, type TpmPublic } from '../../tpm/public-area.ts';
import type { SealingKeyInfo } from '../../tpm/tpm.ts';
import { RootClient, type RootClientOptions } from './client.ts';
import { ActivationError } from './errors.ts';
import { ACTIVATION_FORMAT, readActivationState, writeActivationState, type ActivationState } from './state.ts';
import { writeBrokerCredentials } from './broker-credentials.ts';
import { brokerPassword } from '../protocol/broker-credential.ts';
import { nodeIdFromSpki, spkiOf } from '../protocol/identity.ts';

/** The part of the binding's Tpm that activation uses. */
export interface ActivationTpm {
  ekPublic(): Promise<TpmPublic>;
  sealingKey(options?: { handle?: number }): Promise<SealingKeyInfo | null>;
  activateCredential(input: { credentialBlob: Uint8Array; secret: Uint8Array; handle?: number }): Promise<Uint8Array>;
}

export interface ActivateOptions {
  readonly rootUrl: string;
  readonly tpm: ActivationTpm;
  readonly stateDir: string;
  /** Persistent handle of the sealing key (default 0x81000B70). */
  readonly handle?: number;
  /** Root Ed25519 public key (32 bytes), or the keys valid now during a rotation; when given, the certificate must verify with one. */
  readonly rootPublicKey?: Uint8Array | readonly Uint8Array[];
  readonly client?: RootClientOptions;
  readonly now?: () => number;
  readonly logger?: Logger;
  /**
   * Activate again although the stored state says active (its broker credential is missing or
   * refused, or the certificate is due): the root rotates the broker secret; a revoked node never renews.
   */
  readonly renew?: boolean;
}

async function tpmStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ActivationError) throw err;
    const detail = err instanceof TpmError ? `${err.message} [${err.code}]` : (err as Error).message;
    throw new ActivationError('ERR_ACTIVATION_TPM', `TPM problem while ${what}: ${detail}`, {}, { cause: err });
  }
}

/** Checks a certificate from the root: signed by the root key (when known) and for this key. */
export function checkCertificate(cert: Record<string, unknown>, nodeId: string, rootPublicKey: Uint8Array | readonly Uint8Array[] | undefined, now: number, where: string): void {
  const bad = (why: string): ActivationError => new ActivationError('ERR_ACTIVATION_BAD_RESPONSE', `${where}: registration certificate ${why}`);
  if (rootPublicKey !== undefined) {
    try {
      verifyRegistrationCertificate(cert, rootPublicKey, now);
    } catch (err) {
      throw bad(`does not verify: ${(err as Error).message}`);
    }
  }
  if (cert['nodeId'] !== nodeId) throw bad(`is for node ${String(cert['nodeId']).slice(0, 64)}, not this TPM's ${nodeId}`);
  let spki: Uint8Array;
  try {
    spki = spkiOf(String(cert['sealingPublicKey']));
  } catch {
    throw bad('has no sealingPublicKey PEM');
  }
  if (nodeIdFromSpki(spki) !== nodeId) throw bad('names another sealing key');
}

export async function activate(options: ActivateOptions): Promise<ActivationState> {
  const { tpm, stateDir } = options;
  const now = options.now ?? Date.now;
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'activation' });
  const client = new RootClient(options.rootUrl, options.client);
  const handleOpt = options.handle === undefined ? {} : { handle: options.handle };

  const key = await tpmStep('reading the sealing key', () => tpm.sealingKey(handleOpt));
  if (key === null) {
    throw new ActivationError('ERR_ACTIVATION_TPM', `this TPM has no sealing key at 0x${(options.handle ?? 0x81000b70).toString(16)}; it was not enrolled at the factory (btn-provision factory enroll creates it)`);
  }
  // The id the root assigns: SHA-256 of the sealing key's SPKI.
  const nodeId = nodeIdFromSpki(publicKeySpki(key.public));

  const stored = await readActivationState(stateDir);
  if (stored !== null) {
    if (stored.nodeId !== nodeId) {
      throw new ActivationError('ERR_ACTIVATION_STATE', `${stateDir}/activation.json is for node ${stored.nodeId}, but this TPM's sealing key is node ${nodeId}; wrong state dir or TPM`);
    }
    if (stored.status === 'revoked') {
      throw new ActivationError('ERR_ACTIVATION_REVOKED', `node ${nodeId} is revoked (${stored.revokedReason ?? 'by the root node'}, ${stored.revokedAt ?? 'earlier'})`);
    }
    if (options.renew !== true) {
      log.debug({ nodeId }, 'already active');
      return stored;
    }
  }

  const ek = await tpmStep('reading the EK', () => tpm.ekPublic());
  const store = async (certificate: Record<string, unknown>, where: string): Promise<ActivationState> => {
    checkCertificate(certificate, nodeId, options.rootPublicKey, now(), where);
    const state: ActivationState = {
      format: ACTIVATION_FORMAT,
      status: 'active',
      nodeId,
      certificate,
      rootUrl: client.url.href,
      // A renewal keeps when the node first activated and the revocation lists it has seen.
      activatedAt: stored?.activatedAt ?? new Date(now()).toISOString(),
      revocationVersion: stored?.revocationVersion ?? 0,
    };
    await writeActivationState(stateDir, state);
    log.info({ nodeId }, stored === null ? 'activated' : 're-activated: certificate renewed');
    return state;
  };
  // An older root says this TPM is active already (it does not re-activate), or a concurrent
  // activation used the challenge: fetch the certificate it issued.
  const recover = async (cause: ActivationError): Promise<ActivationState> => {
    const view = await client.node(nodeId);
    if (view === null || view.state !== 'active' || view.certificate === null) throw cause;
    return store(view.certificate, `GET /v1/nodes/${nodeId}`);
  };
  const alreadyActive = (err: unknown): err is ActivationError =>
    err instanceof ActivationError && (err.details.rootCode === 'ERR_PROV_ALREADY_ACTIVE' || err.details.rootCode === 'ERR_PROV_CHALLENGE_USED');

  // A challenge answers for the TPM's state when it was issued: should another activation of this
  // TPM complete first (409 ERR_PROV_SUPERSEDED), ask once more, which re-activates.
  const superseded = (err: unknown): boolean => err instanceof ActivationError && err.details.rootCode === 'ERR_PROV_SUPERSEDED';
  const prove = async (): Promise<Awaited<ReturnType<typeof client.proof>> | ActivationState> => {
    let challenge;
    try {
      challenge = await client.challenge(toTpm2bPublic(ek.bytes), toTpm2bPublic(key.public.bytes));
    } catch (err) {
      if (alreadyActive(err)) return recover(err);
      throw err;
    }
    // TPM2 Part 1 §24: only the TPM holding this EK and a loaded object of this name recovers it.
    const secret = await tpmStep('answering the challenge (ActivateCredential)', () =>
      tpm.activateCredential({ credentialBlob: challenge.credentialBlob, secret: challenge.encryptedSecret, ...handleOpt }));
    try {
      return await client.proof(challenge.challengeId, secret);
    } catch (err) {
      if (alreadyActive(err)) return recover(err);
      throw err;
    } finally {
      secret.fill(0);
    }
  };
  const answer = await prove().catch((err: unknown) => (superseded(err) ? prove() : Promise.reject(err)));
  if ('format' in answer) return answer;
  const proof = answer;
  if (proof.nodeId !== nodeId) {
    throw new ActivationError('ERR_ACTIVATION_BAD_RESPONSE', `POST /v1/activation/proof: root says node ${proof.nodeId}, this TPM's sealing key is node ${nodeId}`);
  }
  if (proof.broker !== undefined) {
    // The broker identity: the second credential opens only in this TPM, like the challenge did.
    const offer = proof.broker;
    const brokerSecret = await tpmStep('recovering the broker credential (ActivateCredential)', () =>
      tpm.activateCredential({ credentialBlob: offer.credentialBlob, secret: offer.encryptedSecret, ...handleOpt }));
    try {
      await writeBrokerCredentials(stateDir, { username: nodeId, password: brokerPassword(brokerSecret, nodeId) });
    } finally {
      brokerSecret.fill(0);
    }
    log.info({ nodeId }, 'broker credentials released by the TPM and stored');
  }
  return store(proof.certificate, 'POST /v1/activation/proof');
}
