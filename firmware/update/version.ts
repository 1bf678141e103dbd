// Versions of bundles and slots: semantic (1.2.3), with a pre-release (1.2.3-rc1 or ~rc1, lower
// than 1.2.3), build metadata (1.2.3+git5, equal to 1.2.3 in order) or a fourth part (1.2.3.1,
// higher). The same grammar `npm run update-bundle` stamps.
import { open } from 'node:fs/promises';
import { UpdateError } from './errors.ts';

export const VERSION_PATTERN = /^[0-9]+\.[0-9]+\.[0-9]+([.+~-][0-9A-Za-z.+~-]{1,32})?$/;
const MAX_VERSION_CHARS = 64;

interface Parsed {
  readonly core: readonly [number, number, number];
  /** Pre-release identifiers (empty: a release). */
  readonly pre: readonly string[];
  /** Parts after the core joined by '.' (1.2.3.1): a later release. */
  readonly extra: readonly string[];
}

/** Throws ERR_UPDATE_VERSION naming `what` when `text` is not a version. */
export function checkVersion(text: string, what: string): string {
  if (text.length > MAX_VERSION_CHARS || !VERSION_PATTERN.test(text)) {
    throw new UpdateError('ERR_UPDATE_VERSION', `${what} must be a semantic version (1.2.3, 1.2.3-rc1), got ${JSON.stringify(text.slice(0, MAX_VERSION_CHARS))}`, { what, version: text.slice(0, MAX_VERSION_CHARS) });
  }
  return text;
}

function parse(text: string): Parsed {
  const m = /^([0-9]+)\.([0-9]+)\.([0-9]+)(.*)$/.exec(checkVersion(text, 'version'))!;
  const core = [Number(m[1]), Number(m[2]), Number(m[3])] as const;
  let rest = m[4]!.replace(/\+.*$/, ''); // build metadata does not order
  if (rest.startsWith('-') || rest.startsWith('~')) return { core, pre: rest.slice(1).split('.'), extra: [] };
  if (rest.startsWith('.')) rest = rest.slice(1);
  return { core, pre: [], extra: rest === '' ? [] : rest.split(/[.~-]/) };
}

/**
 * Identifiers as semantic versioning orders them (numbers numerically and below words), except
 * that digits inside a word compare as numbers too: rc2 before rc10, as a person means it.
 */
function compareIds(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    const c = xn && yn ? Math.sign(Number(x) - Number(y)) : xn ? -1 : yn ? 1 : compareWords(x, y);
    if (c !== 0) return c;
  }
  return Math.sign(a.length - b.length);
}

function compareWords(x: string, y: string): number {
  const xs = x.match(/[0-9]+|[^0-9]+/g)!;
  const ys = y.match(/[0-9]+|[^0-9]+/g)!;
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const p = xs[i]!;
    const q = ys[i]!;
    const c = /^[0-9]/.test(p) && /^[0-9]/.test(q) ? Math.sign(Number(p) - Number(q)) : p < q ? -1 : p > q ? 1 : 0;
    if (c !== 0) return c;
  }
  return Math.sign(xs.length - ys.length);
}

/** <0, 0 or >0 as version a is older than, as new as or newer than b. */
export function compareVersions(a: string, b: string): number {
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return Math.sign(x.core[i]! - y.core[i]!);
  if (x.pre.length > 0 || y.pre.length > 0) {
    if (x.pre.length === 0) return 1;
    if (y.pre.length === 0) return -1;
    return compareIds(x.pre, y.pre);
  }
  return compareIds(x.extra, y.extra);
}

/** Where a root file system says which version it is (the image stamps it; so does every bundle). */
export const VERSION_FILE = '/usr/lib/btn-node/version';

/** The running slot's version, checked. */
export async function readVersionFile(path = VERSION_FILE): Promise<string> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(MAX_VERSION_CHARS + 2);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('utf8').trim();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new UpdateError('ERR_UPDATE_VERSION', `cannot read the running version from ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  return checkVersion(text, `the running version (${path})`);
}
