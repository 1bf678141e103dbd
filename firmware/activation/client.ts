// The device's view of the registrar client (firmware/protocol/registrar-api): the same calls,
// with the client's errors turned into ActivationErrors whose codes `btn-node activate` and the
// activation gate act on (not filed and revoked are answers, not outages).
import {
  parseRegistrarUrl, RegistrarApiError, RegistrarClient, type Challenge, type NodeResponse, type Proof, type RegistrarClientOptions,
} from '../protocol/registrar-api/index.ts';
import { ActivationError, type ActivationErrorCode } from './errors.ts';

export type RootClientOptions = Pick<RegistrarClientOptions, 'timeoutMs' | 'maxResponseBytes' | 'maxRevocationBytes'>;
export type { Challenge, Proof };
export type NodeView = NodeResponse;

/** A registrar client error as the ActivationError a device acts on; anything else unchanged. */
export function activationErrorOf(err: unknown): unknown {
  if (!(err instanceof RegistrarApiError)) return err;
  const { rootCode } = err.details;
  let code: ActivationErrorCode;
  if (rootCode === 'ERR_PROV_NOT_FILED') code = 'ERR_ACTIVATION_NOT_FILED';
  else if (rootCode === 'ERR_PROV_REVOKED') code = 'ERR_ACTIVATION_REVOKED';
  else if (err.code === 'ERR_REGISTRAR_ARGUMENT') code = 'ERR_ACTIVATION_ARGUMENT';
  else if (err.code === 'ERR_REGISTRAR_REFUSED') code = 'ERR_ACTIVATION_REFUSED';
  else if (err.code === 'ERR_REGISTRAR_UNREACHABLE') code = 'ERR_ACTIVATION_UNREACHABLE';
  else code = 'ERR_ACTIVATION_BAD_RESPONSE';
  return new ActivationError(code, err.message, err.details, { cause: err });
}

async function mapped<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw activationErrorOf(err);
  }
}

export function parseRootUrl(text: string): URL {
  try {
    return parseRegistrarUrl(text);
  } catch (err) {
    throw activationErrorOf(err);
  }
}

export class RootClient {
  readonly #api: RegistrarClient;

  constructor(rootUrl: string | URL, options: RootClientOptions = {}) {
    try {
      this.#api = new RegistrarClient(typeof rootUrl === 'string' ? parseRootUrl(rootUrl) : rootUrl, options);
    } catch (err) {
      throw activationErrorOf(err);
    }
  }

  get url(): URL {
    return this.#api.url;
  }

  challenge(ekPublic: Uint8Array, sealingPublic: Uint8Array): Promise<Challenge> {
    return mapped(() => this.#api.challenge(ekPublic, sealingPublic));
  }

  proof(challengeId: string, secret: Uint8Array): Promise<Proof> {
    return mapped(() => this.#api.proof(challengeId, secret));
  }

  /** GET /v1/nodes/:id; null when the root does not know the node. */
  node(nodeId: string): Promise<NodeView | null> {
    return mapped(() => this.#api.node(nodeId));
  }

  /** GET /v1/revocations: the signed list, unverified (the caller verifies with the root key). */
  revocations(): Promise<unknown> {
    return mapped(() => this.#api.revocations());
  }
}
