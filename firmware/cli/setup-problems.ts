// What the image's set-up script (firstboot.sh) found wrong in btn-node.txt at this boot: a Wi-Fi
// setting it refused, a host name, an unknown key. It leaves one line per problem in
// `setup-problems` beside the config it wrote; the agent shows them on the status page, so a
// household that typed a value wrong reads which one, not only the console.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const SETUP_PROBLEMS_FILE = 'setup-problems';
/** The file is the script's own, a few lines; more is not read. */
const MAX_BYTES = 8 * 1024;
const MAX_PROBLEMS = 8;
const MAX_LINE_CHARS = 300;

export interface SetupProblem {
  /** "btn-node.txt", "btn-node.txt (2)", ...: one fault per problem. */
  readonly key: string;
  /** "btn-node.txt: WIFI_COUNTRY: 'Germany' is not a country code: ..." */
  readonly message: string;
}

/** The problems the set-up script left beside `configFile`; none when the file is absent or unreadable. */
export function readSetupProblems(configFile: string): SetupProblem[] {
  const file = join(dirname(configFile), SETUP_PROBLEMS_FILE);
  let text: string;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    if (!fstatSync(fd).isFile()) return [];
    const buf = Buffer.alloc(MAX_BYTES);
    const n = readSync(fd, buf, 0, MAX_BYTES, 0);
    text = buf.subarray(0, n).toString('utf8');
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
  return text.split('\n')
    // eslint-disable-next-line no-control-regex -- the file is outside input: no control characters reach the page
    .map((l) => l.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_LINE_CHARS))
    .filter((l) => l.length > 0)
    .slice(0, MAX_PROBLEMS)
    .map((line, i) => ({ key: i === 0 ? 'btn-node.txt' : `btn-node.txt (${i + 1})`, message: `btn-node.txt: ${line}` }));
}
