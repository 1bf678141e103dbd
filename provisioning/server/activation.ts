// Activation (docs/activation.md step 2): challenge = MakeCredential (TPM2 Part 1 §24) for the filed
// sealing key's name against the filed EK with a fresh 32-byte secret; proof = the secret,
// which only the TPM holding both keys can recover with ActivateCredential. The store does the
// final check-and-mark atomically; a wrong or replayed proof changes nothing. An active TPM may
// do it again (re-activation: a device that lost its state, or renews its certificate): it gets
// a fresh certificate and a fresh broker secret, and the old broker password stops working.
import { createHash, randomBytes } from 'node:crypto';
import { challengeRefusal, deviceRefusal, staleChallenge } from '../store/activation-rules.ts';
import { ProvisioningError } from '../errors.ts';
import type { Ed25519Key } from '../keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { ekNameOf } from '../manifest/line.ts';
import type { ChallengeResponse, ProofResponse } from '../../firmware/protocol/registrar-api/index.ts';
import { issueRegistrationCertificate } from '../registration/certificate.ts';
import { brokerSecret, rotateBrokerPassword, type BrokerAccounts } from './broker-rotation.ts';
import type { ActivationFailure, DeviceRecord, ProvisioningStore } from '../store/types.ts';
import { MAX_PUBLIC_BYTES, objectName, parsePublic, publicKeyPem, toTpm2bPublic, type TpmPublic } from '../../tpm/public-area.ts';
import { sealingKeyProblem } from '../../tpm/key-rules.ts';

export type MakeCredential = (input: { ekPublic: TpmPublic; name: Uint8Array; secret: Uint8Array }) =>
  { credentialBlob: Uint8Array; encryptedSecret: Uint8Array };

export type { BrokerAccounts };

export interface ActivationDeps {
  readonly store: ProvisioningStore;
  readonly broker?: BrokerAccounts;
  /** Derives the broker secrets; signs registrations unless signingKey says otherwise. */
  readonly rootKey: Ed25519Key;
  /** The key registrations are signed with now (a root key rotation's next key once its window opens). */
  readonly signingKey?: () => Ed25519Key;
  readonly now: () => number;
  readonly makeCredential: MakeCredential;
  readonly challengeTtlMs: number;
  readonly certificateTtlMs: number;
  /** Told of every completed proof (for metrics and the log). */
  readonly onActivated?: (nodeId: string, reactivated: boolean) => void;
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
    await deps.store.createChallenge({ id: challengeId, ekName, secretHash: sha256(secret), createdAt: now, expiresAt, usedAt: null, generation: device.brokerGeneration });
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
  'superseded': ['ERR_PROV_SUPERSEDED', 'another activation of this TPM completed after this challenge was issued; request a new challenge'],
};

export async function completeProof(deps: ActivationDeps, challengeId: string, secret: Uint8Array): Promise<ProofResponse> {
  const secretHash = sha256(secret);
  const ch = await deps.store.getChallenge(challengeId);
  const now = deps.now();
  // Cheap checks first, so a wrong proof costs no signature; the store checks all again atomically.
  const stale = challengeRefusal(ch ?? undefined, { ekName: ch?.ekName ?? '', secretHash, now });
  if (stale !== null || ch === null) throw fail(...FAILURES[stale ?? 'challenge-unknown']);
  const device = await deps.store.getDevice(ch.ekName);
  const refused = deviceRefusal(device?.state) ?? (device === null ? null : staleChallenge(ch, device.brokerGeneration));
  if (refused !== null || device === null) throw fail(...FAILURES[refused ?? 'not-filed']);
  const sealing = parsePublic(device.sealingPublic);
  const certificate = issueRegistrationCertificate(deps.signingKey?.() ?? deps.rootKey, {
    nodeId: device.nodeId,
    sealingPublicKey: publicKeyPem(sealing),
    ekName: device.ekName,
    board: device.board,
    serial: device.serial,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + deps.certificateTtlMs).toISOString(),
  });
  const outcome = await deps.store.completeActivation({ challengeId, secretHash, ekName: ch.ekName, certificate: JSON.stringify(certificate), now });
  if (!outcome.ok) throw fail(...FAILURES[outcome.reason]);
  // The broker account after the store: the password follows the newest committed activation
  // (broker-rotation.ts). Should the broker fail now, the node is active without a usable
  // password and simply re-activates.
  const broker = deps.broker === undefined ? undefined : await brokerOffer(deps, deps.broker, device, outcome.brokerGeneration, sealing);
  deps.onActivated?.(device.nodeId, outcome.reactivated);
  return { nodeId: device.nodeId, status: 'active', certificate: { ...certificate }, ...(broker === undefined ? {} : { broker }) };
}

/** This generation's broker secret wrapped for this TPM alone, once the broker holds its password. */
async function brokerOffer(deps: ActivationDeps, accounts: BrokerAccounts, device: DeviceRecord, generation: number, sealing: TpmPublic): Promise<NonNullable<ProofResponse['broker']>> {
  const rotated = await rotateBrokerPassword({ store: deps.store, accounts, rootKey: deps.rootKey }, device.ekName, device.nodeId, generation);
  if (rotated === 'revoked') throw fail('ERR_PROV_REVOKED', `node ${device.nodeId} was revoked during its activation`);
  if (rotated === 'superseded') throw fail('ERR_PROV_SUPERSEDED', `a later activation of node ${device.nodeId} completed meanwhile; its answer carries the valid broker credential`);
  const secret = brokerSecret(deps.rootKey, device.nodeId, generation);
  try {
    const { credentialBlob, encryptedSecret } = deps.makeCredential({ ekPublic: parsePublic(device.ekPublic), name: objectName(sealing), secret });
    return { username: device.nodeId, credentialBlob: toHex(credentialBlob), encryptedSecret: toHex(encryptedSecret) };
  } finally {
    secret.fill(0);
  }
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

export const MAX_AREA_BYTES = MAX_PUBLIC_BYTES + 2;
