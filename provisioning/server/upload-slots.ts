// At most N batch uploads per manufacturer at once on this instance: a manufacturer's script
// stuck in a retry loop (or a stolen signing key) cannot fill the disk with spool files or take
// every verification worker from the others. More are refused with 429 and a Retry-After.
import { ProvisioningError } from '../errors.ts';

/** A few factory stations of one manufacturer uploading at once. */
export const DEFAULT_UPLOADS_PER_MANUFACTURER = 4;

/** Seconds a refused uploader is told to wait before it tries again. */
export const UPLOAD_RETRY_AFTER_S = 30;

export class UploadSlots {
  readonly #max: number;
  readonly #running = new Map<string, number>();

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError('maxUploadsPerManufacturer must be a positive integer');
    this.#max = max;
  }

  /** A slot for `manufacturer`, or ERR_PROV_RATE_LIMITED; call the returned function once when done. */
  take(manufacturer: string): () => void {
    const n = this.#running.get(manufacturer) ?? 0;
    if (n >= this.#max) {
      throw new ProvisioningError('ERR_PROV_RATE_LIMITED', `manufacturer "${manufacturer}" has ${n} upload(s) running on this instance (at most ${this.#max}); retry in ${UPLOAD_RETRY_AFTER_S} s`, 'x-btn-manufacturer');
    }
    this.#running.set(manufacturer, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#running.get(manufacturer) ?? 1) - 1;
      if (left === 0) this.#running.delete(manufacturer);
      else this.#running.set(manufacturer, left);
    };
  }
}
