// Typed errors of the Raspberry Pi image pieces (device tree merge, Debian kernel download).
// Each names what failed and carries what an operator needs to fix it (file, tool, URL).
export type PiBuildErrorCode =
  | 'ERR_PI_BOARD' // the board has no Debian DTB to merge into (Pi 5) or is not a Pi
  | 'ERR_PI_TOOL' // dtc, fdtoverlay, fdtget, gpgv or dpkg-deb missing or failing to start
  | 'ERR_PI_OVERLAY' // dtc refused the overlay source
  | 'ERR_PI_DTB' // base DTB missing or not a flattened device tree
  | 'ERR_PI_MERGE' // fdtoverlay could not apply the overlay (e.g. target-path not in the base)
  | 'ERR_PI_CHECK' // the merged DTB lacks what the overlay should have put there
  | 'ERR_PI_DOWNLOAD' // a mirror request failed or went over its size cap
  | 'ERR_PI_SIGNATURE' // InRelease did not verify against the Debian archive keyring
  | 'ERR_PI_CHECKSUM' // an index or package does not match the hash the signed chain names
  | 'ERR_PI_INDEX'; // the package index does not name the kernel as expected

export class PiBuildError extends Error {
  override readonly name = 'PiBuildError';
  readonly code: PiBuildErrorCode;
  readonly detail: Readonly<Record<string, unknown>>;

  constructor(code: PiBuildErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.detail = detail;
  }

  toObject(): { name: string; code: PiBuildErrorCode; message: string; detail: Readonly<Record<string, unknown>> } {
    return { name: this.name, code: this.code, message: this.message, detail: this.detail };
  }
}

/** The last lines of a tool's stderr, bounded, for an error message. */
export function stderrTail(err: unknown, max = 1500): string {
  const e = err as { stderr?: string | Buffer; message?: string };
  const text = (e.stderr !== undefined ? String(e.stderr) : (e.message ?? String(err))).trim();
  return text.length > max ? `...${text.slice(-max)}` : text;
}
