// `btn-node activate --root URL`: activate this node's TPM with the root node (docs/activation.md)
// and keep the registration certificate in <state-dir>/activation.json.
import { join } from 'node:path';
import { activate, ActivationError, ACTIVATION_FILE, DEFAULT_TIMEOUT_MS, type ActivationErrorCode } from '../activation/index.ts';
import { openTpm, parseHandle, resolveTcti, TpmError, type Tpm } from '../../tpm/index.ts';
import { parse, printJson, UsageError } from '../core/cli-args.ts';
import { fromHex } from '../core/bytes.ts';

const DEFAULT_STATE_DIR = '/var/lib/btn-node';

const USAGE = `usage: btn-node activate --root URL [--tcti T] [--state-dir DIR] [--handle H] [--root-key HEX] [--timeout MS]
  --root       the root node, e.g. https://root.example.net
  --tcti       defaults to $BTN_TCTI, then device:/dev/tpmrm0
  --state-dir  where activation.json is kept (default ${DEFAULT_STATE_DIR})
  --handle     the sealing key's persistent handle (default 0x81000B70)
  --root-key   the root's Ed25519 public key (64 hex digits): the certificate must verify with it
  --timeout    per request to the root, ms (default ${DEFAULT_TIMEOUT_MS})
exit codes: 0 active, 2 usage, 3 not filed, 4 revoked, 5 root unreachable, 6 bad response,
            7 TPM problem, 8 refused by the root, 9 state file problem`;

export const ACTIVATE_EXIT: Readonly<Record<ActivationErrorCode, number>> = {
  ERR_ACTIVATION_ARGUMENT: 2,
  ERR_ACTIVATION_NOT_FILED: 3,
  ERR_ACTIVATION_REVOKED: 4,
  ERR_ACTIVATION_UNREACHABLE: 5,
  ERR_ACTIVATION_BAD_RESPONSE: 6,
  ERR_ACTIVATION_TPM: 7,
  ERR_ACTIVATION_REFUSED: 8,
  ERR_ACTIVATION_STATE: 9,
};

const HEADLINE: Readonly<Record<ActivationErrorCode, string>> = {
  ERR_ACTIVATION_ARGUMENT: 'bad option',
  ERR_ACTIVATION_NOT_FILED: 'not filed: the root node does not know this TPM (the manufacturer has not uploaded its batch)',
  ERR_ACTIVATION_REVOKED: 'revoked: the root node revoked this node; it will not seal',
  ERR_ACTIVATION_UNREACHABLE: 'root unreachable',
  ERR_ACTIVATION_BAD_RESPONSE: 'bad response from the root node',
  ERR_ACTIVATION_TPM: 'TPM problem',
  ERR_ACTIVATION_REFUSED: 'refused by the root node',
  ERR_ACTIVATION_STATE: 'state file problem',
};

export interface ActivateCommandIo {
  readonly stderr?: { write(text: string): unknown };
}

export async function activateCommand(argv: readonly string[], io: ActivateCommandIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const v = parse(argv, {
    root: { type: 'string' },
    tcti: { type: 'string' },
    'state-dir': { type: 'string' },
    handle: { type: 'string' },
    'root-key': { type: 'string' },
    timeout: { type: 'string' },
  }, USAGE);
  if (v.root === undefined || v.root === '') throw new UsageError(`activate needs --root URL\n${USAGE}`);
  const handle = v.handle === undefined ? undefined : parseHandle(v.handle);
  let rootPublicKey: Uint8Array | undefined;
  if (v['root-key'] !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(v['root-key'])) throw new UsageError(`--root-key must be 64 hex digits (32-byte Ed25519 public key)\n${USAGE}`);
    rootPublicKey = fromHex(v['root-key']);
  }
  const timeoutMs = v.timeout === undefined ? DEFAULT_TIMEOUT_MS : Number(v.timeout);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) throw new UsageError(`--timeout must be 1..600000 ms\n${USAGE}`);
  const stateDir = v['state-dir'] ?? DEFAULT_STATE_DIR;

  let tpm: Tpm | null = null;
  try {
    const tcti = resolveTcti(v.tcti);
    try {
      tpm = await openTpm({ tcti });
    } catch (err) {
      throw new ActivationError('ERR_ACTIVATION_TPM', `cannot open the TPM at ${tcti}: ${(err as Error).message}`, {}, { cause: err });
    }
    const state = await activate({
      rootUrl: v.root, tpm, stateDir, client: { timeoutMs },
      ...(handle === undefined ? {} : { handle }),
      ...(rootPublicKey === undefined ? {} : { rootPublicKey }),
    });
    printJson({
      nodeId: state.nodeId,
      status: state.status,
      certificate: state.certificate,
      rootUrl: state.rootUrl,
      activatedAt: state.activatedAt,
      stateFile: join(stateDir, ACTIVATION_FILE),
    });
    return 0;
  } catch (err) {
    const e = err instanceof TpmError ? new ActivationError('ERR_ACTIVATION_TPM', err.message, {}, { cause: err }) : err;
    if (e instanceof ActivationError) {
      stderr.write(`btn-node activate: ${HEADLINE[e.code]}: ${e.message} [${e.code}]\n`);
      return ACTIVATE_EXIT[e.code];
    }
    throw e;
  } finally {
    await tpm?.close().catch(() => undefined);
  }
}
