// Activation (docs/activation.md step 2): challenge = MakeCredential (TPM2 Part 1 §24) for the filed
// sealing key's name against the filed EK with a fresh 32-byte secret; proof = the secret,
// which only the TPM holding both keys can recover with ActivateCredential. The store does the
// final check-and-mark atomically; a wrong or replayed proof changes nothing.
import { createHash, randomBytes } from 'node:crypto';
import { challengeRefusal, deviceRefusal } from '../store/activation-rules.ts';
import { ProvisioningError } from '../errors.ts';
import type { Ed25519Key } from '../keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { ekNameOf } from '../manifest/line.ts';
import type { ChallengeResponse, ProofResponse } from '../../firmware/protocol/registrar-api/index.ts';
import { brokerPassword } from '../../firmware/protocol/broker-credential.ts';
import { issueRegistrationCertificate } from '../registration/certificate.ts';
import type { ActivationFailure, ProvisioningStore } from '../store/types.ts';
import { MAX_PUBLIC_BYTES, objectName, parsePublic, publicKeyPem, toTpm2bPublic, type TpmPublic } from '../../tpm/public-area.ts';
import { sealingKeyProblem } from '../../tpm/key-rules.ts';

export type MakeCredential = (input: { ekPublic: TpmPublic; name: Uint8Array; secret: Uint8Array }) =>
  { credentialBlob: Uint8Array; encryptedSecret: Uint8Array };

/** The broker's accounts, when the root manages them (provisioning/broker/): one per node id. */
export interface BrokerAccounts {
  /** Creates the node's account or gives it this new password (and enables it again). */
  upsert(nodeId: string, password: string): Promise<void>;
  /** Closes the node's connections and refuses its password from now on. */
  disable(nodeId: string): Promise<void>;
}

export interface ActivationDeps {
  readonly store: ProvisioningStore;
  readonly broker?: BrokerAccounts;
  readonly rootKey: Ed25519Key;
  readonly now: () => number;
  readonly makeCredential: MakeCredential;
  readonly challengeTtlMs: number;
  readonly certificateTtlMs: number;
}

export type { ChallengeResponse, ProofResponse };

const fail = (code: ConstructorParameters<typeof ProvisioningError>[0], message: string, field?: string): ProvisioningError =>
  new ProvisioningError(code, message, field);

function parseArea(bytes: Uint8Array, field: string): TpmPublic {
  try {
    return parsePublic(bytes);
  } catch (err) {
    throw fail('ERR_PROV_INVALID_ARGUMENT', `${field}: ${(err as Error).message}`, field);
  }
}

export async function createChallenge(deps: ActivationDeps, ekPublic: Uint8Array, sealingPublic: Uint8Array): Promise<ChallengeResponse> {
  const ek = parseArea(ekPublic, 'ekPublic');
  const sealing = parseArea(sealingPublic, 'sealingPublic');
  const ekName = ekNameOf(ek);
  const device = await deps.store.getDevice(ekName);
  const refused = deviceRefusal(device?.state);
  if (refused === 'not-filed' || device === null) throw fail('ERR_PROV_NOT_FILED', 'this TPM (EK) was never filed by a manufacturer; ask the manufacturer to upload its batch', 'ekPublic');
  if (refused === 'revoked') throw fail('ERR_PROV_REVOKED', `node ${device.nodeId} is revoked`);
  if (refused !== null) throw fail('ERR_PROV_ALREADY_ACTIVE', `node ${device.nodeId} is active already; fetch its certificate with GET /v1/nodes/${device.nodeId}`);
  if (Buffer.compare(toTpm2bPublic(sealing.bytes), device.sealingPublic) !== 0) {
    throw fail('ERR_PROV_SEALING_KEY_MISMATCH', 'sealingPublic is not the sealing key filed for this TPM', 'sealingPublic');
  }
  const problem = sealingKeyProblem(sealing);
  if (problem !== null) throw fail('ERR_PROV_SEALING_KEY_INVALID', problem, 'sealingPublic');
  const secret = new Uint8Array(randomBytes(32));
  try {
    const { credentialBlob, encryptedSecret } = deps.makeCredential({ ekPublic: ek, name: objectName(sealing), secret });
    const now = deps.now();
    const challengeId = toHex(randomBytes(16));
    const expiresAt = now + deps.challengeTtlMs;
    await deps.store.createChallenge({ id: challengeId, ekName, secretHash: sha256(secret), createdAt: now, expiresAt, usedAt: null });
    // No timers (several instances share the store): about one challenge in 256 also removes
    // challenges that expired more than an hour ago.
    if (randomBytes(1)[0] === 0) await deps.store.pruneChallenges(now - 3600_000).catch(() => undefined);
    return { challengeId, credentialBlob: toHex(credentialBlob), encryptedSecret: toHex(encryptedSecret), expiresAt: new Date(expiresAt).toISOString() };
  } finally {
    secret.fill(0);
  }
}

const FAILURES: Record<ActivationFailure, [ConstructorParameters<typeof ProvisioningError>[0], string]> = {
  'challenge-unknown': ['ERR_PROV_CHALLENGE_UNKNOWN', 'no such challenge; request a new one'],
  'challenge-used': ['ERR_PROV_CHALLENGE_USED', 'this challenge was answered already (replay)'],
  'challenge-expired': ['ERR_PROV_CHALLENGE_EXPIRED', 'the challenge expired; request a new one'],
  'bad-proof': ['ERR_PROV_BAD_PROOF', 'the secret does not match the challenge'],
  'not-filed': ['ERR_PROV_NOT_FILED', 'this TPM was never filed'],
  'revoked': ['ERR_PROV_REVOKED', 'this node is revoked'],
  'already-active': ['ERR_PROV_ALREADY_ACTIVE', 'this TPM is active already'],
};

export async function completeProof(deps: ActivationDeps, challengeId: string, secret: Uint8Array): Promise<ProofResponse> {
  const secretHash = sha256(secret);
  const ch = await deps.store.getChallenge(challengeId);
  const now = deps.now();
  // Cheap checks first, so a wrong proof costs no signature; the store checks all again atomically.
  const stale = challengeRefusal(ch ?? undefined, { ekName: ch?.ekName ?? '', secretHash, now });
  if (stale !== null || ch === null) throw fail(...FAILURES[stale ?? 'challenge-unknown']);
  const device = await deps.store.getDevice(ch.ekName);
  const refused = deviceRefusal(device?.state);
  if (refused !== null || device === null) throw fail(...FAILURES[refused ?? 'not-filed']);
  const sealing = parsePublic(device.sealingPublic);
  const certificate = issueRegistrationCertificate(deps.rootKey, {
    nodeId: device.nodeId,
    sealingPublicKey: publicKeyPem(sealing),
    ekName: device.ekName,
    board: device.board,
    serial: device.serial,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + deps.certificateTtlMs).toISOString(),
  });
  // The broker account first: should activation then fail (a race the store settles), an account
  // whose password nobody can derive is harmless; the other way round, an active node could be
  // left without one.
  const broker = deps.broker === undefined ? undefined : await brokerOffer(deps, deps.broker, device.nodeId, parsePublic(device.ekPublic), sealing);
  const outcome = await deps.store.completeActivation({ challengeId, secretHash, ekName: ch.ekName, certificate: JSON.stringify(certificate), now });
  if (!outcome.ok) throw fail(...FAILURES[outcome.reason]);
  return { nodeId: device.nodeId, status: 'active', certificate: { ...certificate }, ...(broker === undefined ? {} : { broker }) };
}

/** A fresh broker secret wrapped for this TPM alone; the account gets the password derived from it. */
async function brokerOffer(deps: ActivationDeps, accounts: BrokerAccounts, nodeId: string, ek: TpmPublic, sealing: TpmPublic): Promise<NonNullable<ProofResponse['broker']>> {
  const secret = new Uint8Array(randomBytes(32));
  try {
    const { credentialBlob, encryptedSecret } = deps.makeCredential({ ekPublic: ek, name: objectName(sealing), secret });
    try {
      await accounts.upsert(nodeId, brokerPassword(secret, nodeId));
    } catch (cause) {
      throw new ProvisioningError('ERR_PROV_BROKER_UNAVAILABLE', 'the broker account for this node could not be made now; try again', undefined, { cause });
    }
    return { username: nodeId, credentialBlob: toHex(credentialBlob), encryptedSecret: toHex(encryptedSecret) };
  } finally {
    secret.fill(0);
  }
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

export const MAX_AREA_BYTES = MAX_PUBLIC_BYTES + 2;
