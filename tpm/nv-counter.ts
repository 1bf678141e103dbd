// The monotonic NV counter the seal journal is anchored to (TPM2 Part 1 §37.2.3.3 counter
// indexes; docs/keys.md). What no disk rollback can undo: the TPM refuses to decrease it, and
// undefining it needs the owner, which also takes the sealing key's hierarchy (tpm2_clear).
//
// Attributes and why:
// - TPM_NT_COUNTER: changed only by TPM2_NV_Increment, by one.
// - OWNERWRITE (owner auth, empty as for the SRK and the sealing key) and AUTHREAD with an empty
//   index auth value (tpm2_nvread's default), OWNERREAD for owner reads.
// - NO_DA: an empty auth leaves nothing to guess; household power cuts must not lock it out.
// - not ORDERLY: an orderly ("hybrid") counter lives in RAM and, after a shutdown without
//   TPM2_Shutdown (every power cut), jumps ahead by up to TPM_PT_ORDERLY_COUNT; the journal
//   would then read every power cut as lost records. Each increment is one NV write instead.
import { HANDLE, TPM_ALG, TPMA_NV } from './constants.ts';
import { TpmError, TpmWireError } from './errors.ts';
import { hex } from './handles.ts';
import { nvPublic } from './structures.ts';
import { WireReader, WireWriter } from './wire.ts';

export const SEAL_COUNTER_ATTRIBUTES = TPMA_NV.NT_COUNTER | TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA;

/** Attributes a counter must have to anchor the journal (WRITTEN aside). */
const REQUIRED = SEAL_COUNTER_ATTRIBUTES;

export interface NvCounterInfo {
  readonly index: number;
  /** TPMA_NV bits as the TPM reports them. */
  readonly attributes: number;
  /** False until the first TPM2_NV_Increment (a read then fails with TPM_RC_NV_UNINITIALIZED). */
  readonly written: boolean;
  /** The count, or null while unwritten. */
  readonly value: number | null;
}

/** TPMS_NV_PUBLIC of the seal counter: 8 bytes of data, SHA-256 name, no policy. */
export function sealCounterPublic(index: number = HANDLE.NV_SEAL_COUNTER_DEFAULT): Uint8Array {
  return new WireWriter().u32(index).u16(TPM_ALG.SHA256).u32(SEAL_COUNTER_ATTRIBUTES).sized(new Uint8Array(0)).u16(8).finish();
}

/** Why the NV public area at `index` is not a seal counter, or null. */
export function notASealCounter(tpm2bNvPublic: Uint8Array): string | null {
  const pub = nvPublic(tpm2bNvPublic);
  if ((pub.attributes & TPMA_NV.NT_MASK) !== TPMA_NV.NT_COUNTER) return 'not a counter index (TPM_NT_COUNTER)';
  if ((pub.attributes & REQUIRED) !== REQUIRED) return 'missing OWNERWRITE, OWNERREAD, AUTHREAD or NO_DA';
  if (pub.attributes & TPMA_NV.ORDERLY) return 'orderly (a power cut would move it ahead)';
  if (pub.dataSize !== 8) return `data size ${pub.dataSize}, expected 8`;
  return null;
}

export function checkSealCounter(index: number, tpm2bNvPublic: Uint8Array): { attributes: number; written: boolean } {
  const why = notASealCounter(tpm2bNvPublic);
  if (why !== null) throw new TpmError('ERR_TPM_NV_MISMATCH', `NV index ${hex(index)} is not a seal counter: ${why}; move the counter (--counter) or undefine the index`);
  const { attributes } = nvPublic(tpm2bNvPublic);
  return { attributes, written: (attributes & TPMA_NV.WRITTEN) !== 0 };
}

/** The counter's 8 data bytes (big-endian UINT64) as a number; refuses counts past 2^53 - 1. */
export function counterValue(data: Uint8Array): number {
  const r = new WireReader(data, 'NV counter');
  const hi = r.u32();
  const lo = r.u32();
  r.end();
  const value = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(value)) throw new TpmWireError(`NV counter value 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is past 2^53 - 1`);
  return value;
}
