// The broker password of a node follows its newest activation. Each (re-)activation counts the
// device's broker generation up in the store; the secret of a generation is derived from the
// root key, so whichever instance finds a newer generation on the broker's side can put that
// generation's password back. After every write the writer reads the store again and stops only
// when its write was the newest generation's (activation-rules.ts brokerStep): two activations at
// once leave the later one's password, and a revocation that lands meanwhile leaves the account
// disabled, whatever order the broker saw the writes in.
import { createHash } from 'node:crypto';
import { brokerPassword } from '../../firmware/protocol/broker-credential.ts';
import { ProvisioningError } from '../errors.ts';
import { ed25519Sign, type Ed25519Key } from '../keys.ts';
import { brokerStep } from '../store/activation-rules.ts';
import type { ProvisioningStore } from '../store/types.ts';

/** The broker's accounts, when the root manages them (provisioning/broker/): one per node id. */
export interface BrokerAccounts {
  /** Creates the node's account or gives it this new password (and enables it again). */
  upsert(nodeId: string, password: string): Promise<void>;
  /** Closes the node's connections and refuses its password from now on. */
  disable(nodeId: string): Promise<void>;
}

const SECRET_LABEL = 'btn-broker-secret/v1';
/** Writes per rotation before giving up: each extra one means yet another activation of this TPM committed meanwhile. */
const MAX_WRITES = 8;

/**
 * The 32-byte broker secret of a node's generation. Ed25519 signatures are deterministic, so the
 * same root key gives the same secret on every instance; nobody without the root key can derive it.
 */
export function brokerSecret(rootKey: Ed25519Key, nodeId: string, generation: number): Uint8Array {
  const signature = ed25519Sign(rootKey, new TextEncoder().encode(`${SECRET_LABEL}\n${nodeId}\n${generation}`));
  return new Uint8Array(createHash('sha256').update(signature).digest());
}

export interface Rotation {
  readonly store: ProvisioningStore;
  readonly accounts: BrokerAccounts;
  readonly rootKey: Ed25519Key;
}

/**
 * Leaves the broker with generation `generation`'s password for the node (or a newer one's).
 * Resolves 'settled' when `generation` is the newest, 'superseded' when a later activation
 * committed meanwhile, 'revoked' when the node was revoked meanwhile (its account is disabled).
 */
export async function rotateBrokerPassword(r: Rotation, ekName: string, nodeId: string, generation: number): Promise<'settled' | 'superseded' | 'revoked'> {
  let wrote = generation;
  for (let i = 0; i < MAX_WRITES; i++) {
    const secret = brokerSecret(r.rootKey, nodeId, wrote);
    try {
      await r.accounts.upsert(nodeId, brokerPassword(secret, nodeId));
    } catch (cause) {
      throw unavailable(cause);
    } finally {
      secret.fill(0);
    }
    const device = await r.store.getDevice(ekName);
    const step = brokerStep(device ?? undefined, wrote);
    if (step === 'settled') return wrote === generation ? 'settled' : 'superseded';
    if (step === 'disable') {
      await r.accounts.disable(nodeId).catch((cause: unknown) => { throw unavailable(cause); });
      return 'revoked';
    }
    wrote = device!.brokerGeneration;
  }
  throw new ProvisioningError('ERR_PROV_SUPERSEDED', `node ${nodeId} was activated ${MAX_WRITES} more times while its broker password was set; try again`);
}

function unavailable(cause: unknown): ProvisioningError {
  return new ProvisioningError('ERR_PROV_BROKER_UNAVAILABLE', 'the broker account for this node could not be set now; try again', undefined, { cause });
}
