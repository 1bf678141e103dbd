// The only module that knows about the FFI. It loads tpm2-tss (ESYS, TCTI loader, RC decoder,
// marshalling) through koffi and exposes plain functions over opaque pointers and byte buffers.
//
// TPM structures never cross the FFI as C structs: TypeScript holds TPM wire bytes, libtss2-mu
// unmarshals them into opaque buffers handed to Esys_*, and marshals what ESYS returns, which is
// then released with Esys_Free. No struct layout is declared here, so the binding does not
// depend on the ABI of tpm2-tss's structs, and another FFI can replace koffi in this file alone.
import { createRequire } from 'node:module';
import { TpmError } from './errors.ts';

type KoffiFn = ((...args: unknown[]) => unknown) & {
  async: (...args: unknown[]) => void;
};

/** Opaque native pointer as the FFI represents it. */
export type NativePointer = object;

interface Koffi {
  load(path: string): { func(prototype: string): KoffiFn };
}

const require = createRequire(import.meta.url);

// tpm2-tss logs every failed command to stderr, including the expected ones (probing an empty
// handle). Errors reach callers as typed exceptions instead; TSS2_LOG set by the user wins.
process.env['TSS2_LOG'] ??= 'all+NONE';

/** Scratch size for an unmarshalled C struct; larger than any TPM2B/TPMT the binding passes. */
const STRUCT_BYTES = 8192;

/** Types the binding converts to C structs for ESYS (TSS2 MU spec §5). */
export type MuInType =
  | 'TPM2B_PUBLIC' | 'TPM2B_SENSITIVE_CREATE' | 'TPM2B_DATA' | 'TPML_PCR_SELECTION' | 'TPM2B_PRIVATE'
  | 'TPM2B_DIGEST' | 'TPMT_SIG_SCHEME' | 'TPMT_TK_HASHCHECK' | 'TPM2B_ID_OBJECT' | 'TPM2B_ENCRYPTED_SECRET'
  | 'TPMT_SYM_DEF' | 'TPM2B_NONCE' | 'TPM2B_AUTH' | 'TPM2B_NV_PUBLIC';

/** Types ESYS hands back that the binding converts to wire bytes. */
export type MuOutType =
  | 'TPM2B_PUBLIC' | 'TPM2B_NAME' | 'TPMT_SIGNATURE' | 'TPMS_CAPABILITY_DATA' | 'TPM2B_MAX_NV_BUFFER'
  | 'TPM2B_NV_PUBLIC' | 'TPM2B_DIGEST' | 'TPM2B_PRIVATE';

const MU_IN: readonly MuInType[] = [
  'TPM2B_PUBLIC', 'TPM2B_SENSITIVE_CREATE', 'TPM2B_DATA', 'TPML_PCR_SELECTION', 'TPM2B_PRIVATE', 'TPM2B_DIGEST',
  'TPMT_SIG_SCHEME', 'TPMT_TK_HASHCHECK', 'TPM2B_ID_OBJECT', 'TPM2B_ENCRYPTED_SECRET', 'TPMT_SYM_DEF', 'TPM2B_NONCE',
  'TPM2B_AUTH', 'TPM2B_NV_PUBLIC',
];
const MU_OUT: readonly MuOutType[] = [
  'TPM2B_PUBLIC', 'TPM2B_NAME', 'TPMT_SIGNATURE', 'TPMS_CAPABILITY_DATA', 'TPM2B_MAX_NV_BUFFER', 'TPM2B_NV_PUBLIC',
  'TPM2B_DIGEST', 'TPM2B_PRIVATE',
];

// ESYS prototypes, tss2_esys.h. ESYS_TR is uint32_t, ESYS_CONTEXT* and struct pointers are void*.
const ESYS_PROTOTYPES = {
  Initialize: 'uint32_t Esys_Initialize(_Out_ void **ctx, void *tcti, void *abi)',
  Finalize: 'void Esys_Finalize(_Inout_ void **ctx)',
  SetTimeout: 'uint32_t Esys_SetTimeout(void *ctx, int32_t timeout)',
  Free: 'void Esys_Free(void *ptr)',
  Startup: 'uint32_t Esys_Startup(void *ctx, uint16_t startupType)',
  GetCapability:
    'uint32_t Esys_GetCapability(void *ctx, uint32_t s1, uint32_t s2, uint32_t s3, uint32_t capability, uint32_t property, uint32_t count, _Out_ uint8_t *moreData, _Out_ void **data)',
  TR_FromTPMPublic:
    'uint32_t Esys_TR_FromTPMPublic(void *ctx, uint32_t tpmHandle, uint32_t s1, uint32_t s2, uint32_t s3, _Out_ uint32_t *object)',
  TR_Close: 'uint32_t Esys_TR_Close(void *ctx, _Inout_ uint32_t *object)',
  ReadPublic:
    'uint32_t Esys_ReadPublic(void *ctx, uint32_t object, uint32_t s1, uint32_t s2, uint32_t s3, _Out_ void **outPublic, _Out_ void **name, _Out_ void **qualifiedName)',
  CreatePrimary:
    'uint32_t Esys_CreatePrimary(void *ctx, uint32_t primaryHandle, uint32_t s1, uint32_t s2, uint32_t s3, void *inSensitive, void *inPublic, void *outsideInfo, void *creationPCR, _Out_ uint32_t *objectHandle, _Out_ void **outPublic, _Out_ void **creationData, _Out_ void **creationHash, _Out_ void **creationTicket)',
  Create:
    'uint32_t Esys_Create(void *ctx, uint32_t parent, uint32_t s1, uint32_t s2, uint32_t s3, void *inSensitive, void *inPublic, void *outsideInfo, void *creationPCR, _Out_ void **outPrivate, _Out_ void **outPublic, _Out_ void **creationData, _Out_ void **creationHash, _Out_ void **creationTicket)',
  Load:
    'uint32_t Esys_Load(void *ctx, uint32_t parent, uint32_t s1, uint32_t s2, uint32_t s3, void *inPrivate, void *inPublic, _Out_ uint32_t *objectHandle)',
  EvictControl:
    'uint32_t Esys_EvictControl(void *ctx, uint32_t auth, uint32_t object, uint32_t s1, uint32_t s2, uint32_t s3, uint32_t persistentHandle, _Out_ uint32_t *newObject)',
  FlushContext: 'uint32_t Esys_FlushContext(void *ctx, uint32_t flushHandle)',
  Sign:
    'uint32_t Esys_Sign(void *ctx, uint32_t key, uint32_t s1, uint32_t s2, uint32_t s3, void *digest, void *inScheme, void *validation, _Out_ void **signature)',
  NV_ReadPublic:
    'uint32_t Esys_NV_ReadPublic(void *ctx, uint32_t nvIndex, uint32_t s1, uint32_t s2, uint32_t s3, _Out_ void **nvPublic, _Out_ void **nvName)',
  NV_Read:
    'uint32_t Esys_NV_Read(void *ctx, uint32_t authHandle, uint32_t nvIndex, uint32_t s1, uint32_t s2, uint32_t s3, uint16_t size, uint16_t offset, _Out_ void **data)',
  NV_DefineSpace:
    'uint32_t Esys_NV_DefineSpace(void *ctx, uint32_t authHandle, uint32_t s1, uint32_t s2, uint32_t s3, void *auth, void *publicInfo, _Out_ uint32_t *nvHandle)',
  NV_Increment:
    'uint32_t Esys_NV_Increment(void *ctx, uint32_t authHandle, uint32_t nvIndex, uint32_t s1, uint32_t s2, uint32_t s3)',
  StartAuthSession:
    'uint32_t Esys_StartAuthSession(void *ctx, uint32_t tpmKey, uint32_t bind, uint32_t s1, uint32_t s2, uint32_t s3, void *nonceCaller, uint8_t sessionType, void *symmetric, uint16_t authHash, _Out_ uint32_t *session)',
  TRSess_SetAttributes: 'uint32_t Esys_TRSess_SetAttributes(void *ctx, uint32_t session, uint8_t flags, uint8_t mask)',
  PolicySecret:
    'uint32_t Esys_PolicySecret(void *ctx, uint32_t authHandle, uint32_t policySession, uint32_t s1, uint32_t s2, uint32_t s3, void *nonceTPM, void *cpHashA, void *policyRef, int32_t expiration, _Out_ void **timeout, _Out_ void **ticket)',
  ActivateCredential:
    'uint32_t Esys_ActivateCredential(void *ctx, uint32_t activateHandle, uint32_t keyHandle, uint32_t s1, uint32_t s2, uint32_t s3, void *credentialBlob, void *secret, _Out_ void **certInfo)',
} as const;

export type EsysName = keyof typeof ESYS_PROTOTYPES;

export interface Tss2Library {
  /** Synchronous call: only for calls that do not talk to the TPM. */
  esys(name: EsysName, ...args: unknown[]): number;
  /** Runs on a worker thread so a slow TPM never blocks the event loop. */
  esysAsync(name: EsysName, ...args: unknown[]): Promise<number>;
  tctiInitialize(conf: string, out: [NativePointer | null]): Promise<number>;
  tctiFinalize(tcti: [NativePointer | null]): void;
  decodeRc(rc: number): string;
  /** Wire bytes -> C struct in a fresh buffer (or in `into`, when reusing one). */
  toStruct(type: MuInType, wire: Uint8Array, into?: Buffer): Buffer;
  /** C struct allocated by ESYS -> wire bytes; frees the struct. */
  fromEsys(type: MuOutType, pointer: NativePointer | null): Uint8Array;
  free(pointer: NativePointer | null): void;
}

let loaded: Tss2Library | null = null;

/** Load tpm2-tss once per process. */
export function tss2(): Tss2Library {
  loaded ??= loadLibrary();
  return loaded;
}

function loadLibrary(): Tss2Library {
  let koffi: Koffi;
  let esysLib: ReturnType<Koffi['load']>;
  let tctiLib: ReturnType<Koffi['load']>;
  let rcLib: ReturnType<Koffi['load']>;
  let muLib: ReturnType<Koffi['load']>;
  try {
    koffi = require('koffi') as Koffi;
    esysLib = koffi.load('libtss2-esys.so.0');
    tctiLib = koffi.load('libtss2-tctildr.so.0');
    rcLib = koffi.load('libtss2-rc.so.0');
    muLib = koffi.load('libtss2-mu.so.0');
  } catch (err) {
    throw new TpmError(
      'ERR_TPM_LIBRARY',
      `cannot load tpm2-tss (libtss2-esys, libtss2-tctildr, libtss2-rc, libtss2-mu): ${(err as Error).message}. ` +
        'On Debian: apt-get install libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-rc0 libtss2-mu-4.0.1-0 (or libtss2-dev).',
      { cause: err },
    );
  }

  const esysFns = new Map<EsysName, KoffiFn>();
  for (const [name, prototype] of Object.entries(ESYS_PROTOTYPES)) esysFns.set(name as EsysName, esysLib.func(prototype));
  const fn = (name: EsysName): KoffiFn => esysFns.get(name)!;

  const tctiInit = tctiLib.func('uint32_t Tss2_TctiLdr_Initialize(const char *conf, _Out_ void **tcti)');
  const tctiFini = tctiLib.func('void Tss2_TctiLdr_Finalize(_Inout_ void **tcti)');
  const rcDecode = rcLib.func('const char *Tss2_RC_Decode(uint32_t rc)');

  const unmarshal = new Map<MuInType, KoffiFn>();
  for (const t of MU_IN) {
    unmarshal.set(t, muLib.func(`uint32_t Tss2_MU_${t}_Unmarshal(const uint8_t *buffer, size_t size, _Inout_ size_t *offset, void *dest)`));
  }
  const marshal = new Map<MuOutType, KoffiFn>();
  for (const t of MU_OUT) {
    marshal.set(t, muLib.func(`uint32_t Tss2_MU_${t}_Marshal(const void *src, _Out_ uint8_t *buffer, size_t size, _Inout_ size_t *offset)`));
  }
  const free = fn('Free');
  const out = Buffer.alloc(STRUCT_BYTES);

  const callAsync = (f: KoffiFn, args: unknown[]): Promise<number> =>
    new Promise((resolve, reject) => {
      f.async(...args, (err: Error | null, rc: number) => (err ? reject(err) : resolve(rc >>> 0)));
    });

  return {
    esys: (name, ...args) => (fn(name)(...args) as number | undefined ?? 0) >>> 0,
    esysAsync: (name, ...args) => callAsync(fn(name), args),
    tctiInitialize: (conf, outTcti) => callAsync(tctiInit, [conf, outTcti]),
    tctiFinalize: (tcti) => {
      tctiFini(tcti);
    },
    decodeRc: (rc) => String(rcDecode(rc)),
    toStruct: (type, wire, into) => {
      const dest = into ?? Buffer.alloc(STRUCT_BYTES);
      const offset = [0];
      const rc = (unmarshal.get(type)!(wire, wire.length, offset, dest) as number) >>> 0;
      if (rc !== 0 || offset[0] !== wire.length) {
        throw new TpmError('ERR_TPM_WIRE', `cannot convert ${type} (${wire.length} bytes) for ESYS: ${rc ? String(rcDecode(rc)) : 'trailing bytes'}`);
      }
      return dest;
    },
    fromEsys: (type, pointer) => {
      if (pointer === null) throw new TpmError('ERR_TPM_WIRE', `ESYS returned no ${type}`);
      try {
        const offset = [0];
        const rc = (marshal.get(type)!(pointer, out, out.length, offset) as number) >>> 0;
        if (rc !== 0) throw new TpmError('ERR_TPM_WIRE', `cannot marshal ${type} from ESYS: ${String(rcDecode(rc))}`);
        return new Uint8Array(out.subarray(0, offset[0]));
      } finally {
        free(pointer);
      }
    },
    free: (pointer) => {
      if (pointer !== null) free(pointer);
    },
  };
}
