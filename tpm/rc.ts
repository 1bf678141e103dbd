// Decoding of TSS2_RC values, TPM2 Part 2 §6.6 (TPM_RC) and the TSS layer byte.
// Pure: the human text comes from Tss2_RC_Decode in the FFI layer.

export interface RcInfo {
  /** tpm2-tss layer: 0 = TPM, 6 = MU, 7 = ESYS, 8 = SYS, 10 = TCTI, ... */
  readonly layer: number;
  readonly layerName: string;
  /** Format-1 codes name the handle, session or parameter that failed (1-based). */
  readonly handle?: number;
  readonly session?: number;
  readonly parameter?: number;
  /** e.g. "parameter 1", "handle 2"; empty when the code names none. */
  readonly where: string;
  /** Warning codes (TPM_RC_WARN) mean the command was not executed. */
  readonly warning: boolean;
  readonly retryable: boolean;
  /** The TCTI could not talk to the TPM at all. */
  readonly unreachable: boolean;
  /** TPM_RC_INITIALIZE: TPM2_Startup has not run since power-on. */
  readonly needsStartup: boolean;
  /** ESYS refuses the context (TSS2_ESYS_RC_BAD_SEQUENCE): an earlier command left it mid-sequence; only a new context helps. */
  readonly contextBroken: boolean;
}

const LAYER_NAMES: Record<number, string> = {
  0: 'tpm', 5: 'feature', 6: 'mu', 7: 'esys', 8: 'sys', 9: 'fapi', 10: 'tcti', 11: 'resmgr-tpm', 12: 'resmgr',
};

export const TPM_RC = {
  SUCCESS: 0x000,
  INITIALIZE: 0x100,
  FMT1: 0x080,
  WARN: 0x900,
  YIELDED: 0x908,
  TESTING: 0x90a,
  NV_RATE: 0x920,
  LOCKOUT: 0x921,
  RETRY: 0x922,
  HANDLE: 0x08b, // format-1 TPM_RC_HANDLE, without position bits
  VALUE: 0x084,
} as const;

// tpm2-tss base codes that mean "no TPM there" (tss2_common.h).
const BASE_NO_CONNECTION = 8;
const BASE_IO_ERROR = 10;
const BASE_TRY_AGAIN = 9;
const BASE_BAD_SEQUENCE = 7;
const LAYER_ESYS = 7;

/** The TPM-level code (without layer or position bits) used for comparisons. */
export function baseTpmRc(rc: number): number {
  if (rc & TPM_RC.FMT1) return rc & 0xbf; // error number + FMT1 flag
  return rc & 0xfff;
}

export function describeRc(rc: number): RcInfo {
  const layer = (rc >>> 16) & 0xff;
  const layerName = LAYER_NAMES[layer] ?? `layer ${layer}`;
  const code = rc & 0xffff;
  // Layers 0 (TPM) and 11 (resource manager passing TPM codes) use the TPM's own format.
  if (layer === 0 || layer === 11) {
    if (code & TPM_RC.FMT1) {
      const n = (code >> 8) & 0xf;
      if (code & 0x40) return tpmInfo(layer, layerName, code, { parameter: n, where: `parameter ${n}` });
      if (n & 0x8) return tpmInfo(layer, layerName, code, { session: n & 0x7, where: `session ${n & 0x7}` });
      if (n) return tpmInfo(layer, layerName, code, { handle: n, where: `handle ${n}` });
      return tpmInfo(layer, layerName, code, { where: '' });
    }
    return tpmInfo(layer, layerName, code, { where: '' });
  }
  const base = code & 0xffff;
  return {
    layer,
    layerName,
    where: '',
    warning: false,
    retryable: base === BASE_TRY_AGAIN,
    unreachable: layer === 10 && (base === BASE_NO_CONNECTION || base === BASE_IO_ERROR),
    needsStartup: false,
    contextBroken: layer === LAYER_ESYS && base === BASE_BAD_SEQUENCE,
  };
}

function tpmInfo(
  layer: number,
  layerName: string,
  code: number,
  position: { handle?: number; session?: number; parameter?: number; where: string },
): RcInfo {
  const warning = (code & TPM_RC.FMT1) === 0 && (code & TPM_RC.WARN) === TPM_RC.WARN;
  const base = code & 0xfff;
  return {
    layer,
    layerName,
    ...position,
    warning,
    retryable: warning && (base === TPM_RC.RETRY || base === TPM_RC.YIELDED || base === TPM_RC.TESTING || base === TPM_RC.NV_RATE),
    unreachable: false,
    needsStartup: base === TPM_RC.INITIALIZE && (code & TPM_RC.FMT1) === 0,
    contextBroken: false,
  };
}
