// A btn-provision command's call to a running registrar (firmware/protocol/registrar-api): a
// refusal is printed as one line with the registrar's code (exit 1), an unreachable registrar
// is an ERR_PROV_UNREACHABLE error; anything else passes through.
import { readFile } from 'node:fs/promises';
import { RegistrarApiError, RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { UsageError } from './args.ts';
import { ProvisioningError } from '../errors.ts';

/** The answer, or null once a refusal was printed on stderr. */
export async function callRegistrar<T>(call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof RegistrarApiError)) throw err;
    if (err.code === 'ERR_REGISTRAR_UNREACHABLE' && err.details.status === undefined) {
      throw new ProvisioningError('ERR_PROV_UNREACHABLE', err.message, undefined, { cause: err });
    }
    process.stderr.write(`btn-provision: ${err.message}${err.details.rootCode === undefined ? ` [${err.code}]` : ''}\n`);
    return null;
  }
}

/** A client of the registrar at `url`; a URL that is not one is a usage error (exit 2). */
export function registrarAt(url: string, usage: string): RegistrarClient {
  try {
    return new RegistrarClient(url);
  } catch (err) {
    throw new UsageError(`--url: ${(err as Error).message}\n${usage}`);
  }
}

/** The operator token for the registrar's operator routes: `--token-file FILE`, else BTN_ADMIN_TOKEN. */
export async function operatorToken(tokenFile: string | undefined, what: string, usage: string): Promise<string> {
  let token = process.env['BTN_ADMIN_TOKEN'];
  if (tokenFile !== undefined) {
    try {
      token = (await readFile(tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `cannot read token file ${tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  if (token === undefined || token.length === 0) throw new UsageError(`${what} needs --token-file or BTN_ADMIN_TOKEN\n${usage}`);
  return token;
}
