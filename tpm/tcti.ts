// TCTI configuration strings, validated before they reach tpm2-tss's TCTI loader.
import { TpmArgumentError } from './errors.ts';

export const DEFAULT_TCTI = 'device:/dev/tpmrm0';
const MAX_TCTI_LENGTH = 256;

export interface ParsedTcti {
  readonly name: 'swtpm' | 'mssim' | 'device' | 'tabrmd';
  readonly conf: string;
}

/** `--tcti` when given, then $BTN_TCTI, then the kernel resource manager. */
export function resolveTcti(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env['BTN_TCTI'] ?? DEFAULT_TCTI;
}

/**
 * Accepted forms:
 *   swtpm:host=H,port=P   mssim:host=H,port=P   (either key optional, any order)
 *   device:/dev/tpmrm0    (any absolute path)
 *   tabrmd  or  tabrmd:bus_name=...,bus_type=system|session
 */
export function parseTcti(tcti: string): ParsedTcti {
  if (typeof tcti !== 'string' || tcti.length === 0) throw new TpmArgumentError('TCTI must be a non-empty string');
  if (tcti.length > MAX_TCTI_LENGTH) throw new TpmArgumentError(`TCTI string is ${tcti.length} characters, at most ${MAX_TCTI_LENGTH}`);
  if (/[\0-\x1f\s]/.test(tcti)) throw new TpmArgumentError(`TCTI "${printable(tcti)}" contains whitespace or control characters`);
  const colon = tcti.indexOf(':');
  const name = colon < 0 ? tcti : tcti.slice(0, colon);
  const conf = colon < 0 ? '' : tcti.slice(colon + 1);
  switch (name) {
    case 'swtpm':
    case 'mssim': {
      const params = keyValues(tcti, conf, ['host', 'port']);
      const host = params.get('host');
      if (host !== undefined && !/^[A-Za-z0-9.\-:[\]]{1,253}$/.test(host)) throw new TpmArgumentError(`TCTI "${tcti}": host "${host}" is not a host name or address`);
      const port = params.get('port');
      if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65534)) {
        throw new TpmArgumentError(`TCTI "${tcti}": port must be 1..65534 (the control port is port + 1), got "${port}"`);
      }
      return { name, conf };
    }
    case 'device':
      if (!/^\/[A-Za-z0-9._\-/]+$/.test(conf)) throw new TpmArgumentError(`TCTI "${tcti}": device needs an absolute path such as /dev/tpmrm0`);
      return { name, conf };
    case 'tabrmd':
      if (conf !== '') keyValues(tcti, conf, ['bus_name', 'bus_type']);
      return { name, conf };
    default:
      throw new TpmArgumentError(`TCTI "${printable(tcti)}": unknown kind "${printable(name)}" (use swtpm:, mssim:, device: or tabrmd)`);
  }
}

function keyValues(tcti: string, conf: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (conf === '') return out;
  for (const pair of conf.split(',')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !allowed.includes(key) || out.has(key)) {
      throw new TpmArgumentError(`TCTI "${tcti}": "${pair}" is not one of ${allowed.map((k) => `${k}=...`).join(', ')}`);
    }
    out.set(key, pair.slice(eq + 1));
  }
  return out;
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}
