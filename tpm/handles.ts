// Persistent handles the binding may write to (TPM2 Part 2 §7.5; TCG Handle Registry §2.3).
import { HANDLE } from './constants.ts';
import { TpmArgumentError } from './errors.ts';

/** TCG reserves 0x81010000..0x8101FFFF for endorsement primary keys (the RSA EK sits at 0x81010001). */
const ENDORSEMENT_FIRST = 0x81010000;
const ENDORSEMENT_LAST = 0x8101ffff;

/** Parse "0x81000B70" or "2164263792" from outside input. */
export function parseHandle(text: string): number {
  const trimmed = String(text).trim();
  const value = /^0x[0-9a-f]{1,8}$/i.test(trimmed) ? Number.parseInt(trimmed.slice(2), 16) : /^\d{1,10}$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(value)) throw new TpmArgumentError(`handle "${trimmed.slice(0, 20)}" is not a hex (0x...) or decimal number`);
  return checkSealingHandle(value);
}

/** A persistent handle in the owner range that is not the SRK's nor an endorsement key's. */
export function checkSealingHandle(handle: number): number {
  if (!Number.isInteger(handle) || handle < HANDLE.PERSISTENT_FIRST || handle > HANDLE.OWNER_LAST) {
    throw new TpmArgumentError(`sealing-key handle ${hex(handle)} is outside the owner persistent range 0x81000000..0x817FFFFF`);
  }
  if (handle >= ENDORSEMENT_FIRST && handle <= ENDORSEMENT_LAST) {
    throw new TpmArgumentError(`sealing-key handle ${hex(handle)} is reserved for endorsement keys (0x81010000..0x8101FFFF)`);
  }
  if (handle === HANDLE.SRK) throw new TpmArgumentError(`sealing-key handle ${hex(handle)} is the SRK's`);
  return handle;
}

export function hex(handle: number): string {
  return Number.isInteger(handle) ? `0x${(handle >>> 0).toString(16).toUpperCase().padStart(8, '0')}` : String(handle);
}

/** An NV index in the owner range (0x01000000..0x013FFFFF), where the seal counter may live. */
export function checkCounterIndex(index: number): number {
  if (!Number.isInteger(index) || index < HANDLE.NV_OWNER_FIRST || index > HANDLE.NV_OWNER_LAST) {
    throw new TpmArgumentError(`NV counter index ${hex(index)} is outside the owner NV range 0x01000000..0x013FFFFF`);
  }
  return index;
}
