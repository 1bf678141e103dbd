// A scripted root node over real HTTP (node:http on a free port) and a software "TPM" with an
// RSA sealing key, for activation tests that need exact control over the root's answers.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';
import type { Ed25519Key } from '../../../provisioning/keys.ts';
import { parsePublic, publicKeyPem, publicKeySpki, rsaPublicArea, toTpm2bPublic, type TpmPublic } from '../../../tpm/public-area.ts';
import { SEALING_KEY_ATTRIBUTES } from '../../../tpm/templates.ts';
import type { ActivationTpm } from '../../../firmware/activation/activate.ts';
import { nodeIdFromSpki } from '../../../firmware/protocol/identity.ts';
import type { NodeResponse } from '../../../firmware/protocol/registrar-api/index.ts';

export type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

export interface FakeRoot {
  readonly url: string;
  readonly requests: string[];
  route(method: string, path: string, handler: Handler): void;
  close(): Promise<void>;
}

export async function startFakeRoot(): Promise<FakeRoot> {
  const routes = new Map<string, Handler>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const key = `${req.method} ${req.url}`;
      requests.push(key);
      const h = routes.get(key);
      if (h) h(req, Buffer.concat(parts).toString('utf8'), res);
      else json(res, 404, { error: { code: 'ERR_PROV_NOT_FOUND', message: `no route ${key}` } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    route: (method, path, handler) => routes.set(`${method} ${path}`, handler),
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface SoftTpm extends ActivationTpm {
  readonly sealing: TpmPublic;
  readonly nodeId: string;
  activations: number;
}

let cachedModulus: Uint8Array | null = null;

/** A stand-in TPM: a real RSA public sealing area; activateCredential returns `secret`. */
export function softTpm(secret = new Uint8Array(32).fill(9)): SoftTpm {
  if (cachedModulus === null) {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    cachedModulus = new Uint8Array(Buffer.from((publicKey.export({ format: 'jwk' }) as { n: string }).n, 'base64url'));
  }
  const sealing = parsePublic(toTpm2bPublic(rsaPublicArea({
    nameAlg: 0x000b, objectAttributes: SEALING_KEY_ATTRIBUTES, symmetric: { algorithm: 0x0010 },
    scheme: { scheme: 0x0014, hashAlg: 0x000b }, keyBits: 2048, unique: cachedModulus,
  })));
  const tpm: SoftTpm = {
    sealing,
    nodeId: nodeIdFromSpki(publicKeySpki(sealing)),
    activations: 0,
    ekPublic: async () => sealing, // the fake root does not look at it
    sealingKey: async () => ({ handle: 0x81000b70, public: sealing, publicArea: toTpm2bPublic(sealing.bytes), publicKeyPem: publicKeyPem(sealing), name: '' }),
    activateCredential: async () => {
      tpm.activations++;
      return secret.slice();
    },
  };
  return tpm;
}

export function certificateFor(root: Ed25519Key, sealing: TpmPublic, now = Date.now()): Record<string, unknown> {
  return issueRegistrationCertificate(root, {
    nodeId: nodeIdFromSpki(publicKeySpki(sealing)), sealingPublicKey: publicKeyPem(sealing), ekName: 'ab'.repeat(32), board: 'rpi4', serial: 'SN-1',
    issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString(),
  }) as unknown as Record<string, unknown>;
}

/** Routes for a root that activates anyone: challenge -> proof -> certificate. */
export function routeHappyPath(root: FakeRoot, key: Ed25519Key, tpm: SoftTpm): void {
  root.route('POST', '/v1/activation/challenge', (_req, _body, res) =>
    json(res, 200, { challengeId: 'c'.repeat(32), credentialBlob: '0002abcd', encryptedSecret: '0002abcd', expiresAt: new Date().toISOString() }));
  root.route('POST', '/v1/activation/proof', (_req, _body, res) =>
    json(res, 200, { nodeId: tpm.nodeId, status: 'active', certificate: certificateFor(key, tpm.sealing) }));
}

/** GET /v1/nodes/:id as the registrar answers it for an active node. */
export function nodeView(nodeId: string, certificate: Record<string, unknown>): NodeResponse {
  const at = new Date().toISOString();
  return {
    nodeId, state: 'active', ekName: 'ab'.repeat(32), serial: 'SN-1', board: 'rpi4', manufacturer: 'acme', batchId: '0'.repeat(32),
    filedAt: at, activatedAt: at, revokedAt: null, revokeReason: null, certificate,
  };
}
