// One function per TPM command, over an open ESYS context. Each names its TPM2 Part 3 section
// and the Esys_* function it calls. Inputs and outputs are TPM wire bytes; every structure ESYS
// allocates is marshalled and freed here. These functions are not serialized: callers (tpm.ts)
// guarantee that one context runs one command at a time.
import { ESYS_TR, TPM_ALG, TPM_CAP, TPM_RH, TPM_SE, TPM_ST, TPMA_SESSION } from './constants.ts';
import { TpmError, TpmRcError } from './errors.ts';
import { tss2, type EsysName, type NativePointer } from './ffi.ts';
import { WireWriter } from './wire.ts';

export interface EsysContext {
  readonly ctx: NativePointer;
  readonly tcti: string;
  /** How long one command may take; 0 = no limit. */
  readonly timeoutMs?: number;
  /**
   * Give up on this context while `pending` still runs on a worker thread: the synchronous
   * Esys_* functions block with no timeout (they set the ESYS timeout to -1 and loop on
   * TRY_AGAIN), so the context can only be released once the call returns.
   */
  readonly abandon?: (pending: Promise<unknown>) => void;
}

export type EsysTr = number;

/** Session handles for the three authorization slots; ESYS_TR_NONE where unused. */
export type Sessions = readonly [EsysTr, EsysTr, EsysTr];
export const NO_SESSIONS: Sessions = [ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE];
export const PASSWORD: Sessions = [ESYS_TR.PASSWORD, ESYS_TR.NONE, ESYS_TR.NONE];

async function call(c: EsysContext, name: EsysName, ...args: unknown[]): Promise<void> {
  const lib = tss2();
  const pending = lib.esysAsync(name, c.ctx, ...args);
  const rc = c.timeoutMs ? await withDeadline(c, name, pending, c.timeoutMs) : await pending;
  if (rc !== 0) throw new TpmRcError(rc, `Esys_${name}`, lib.decodeRc(rc), c.tcti);
}

async function withDeadline(c: EsysContext, name: string, pending: Promise<number>, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      c.abandon?.(pending);
      reject(new TpmError('ERR_TPM_UNREACHABLE', `Esys_${name}: no answer from the TPM at TCTI "${c.tcti}" within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([pending, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

type Out = [NativePointer | null];
const out = (): Out => [null];
const outHandle = (): [number] => [0];

const EMPTY_SENSITIVE_CREATE = new Uint8Array([0, 4, 0, 0, 0, 0]); // TPM2B_SENSITIVE_CREATE, empty auth and data
const EMPTY_2B = new Uint8Array([0, 0]);
const NO_PCRS = new Uint8Array([0, 0, 0, 0]); // TPML_PCR_SELECTION with count 0

/** TPM2 Part 3 §9.3 TPM2_Startup: Esys_Startup. */
export async function startup(c: EsysContext, type: number): Promise<void> {
  await call(c, 'Startup', type);
}

/** TPM2 Part 3 §30.2 TPM2_GetCapability: Esys_GetCapability. Returns TPMS_CAPABILITY_DATA bytes. */
export async function getCapability(
  c: EsysContext,
  capability: number,
  property: number,
  count: number,
): Promise<{ moreData: boolean; data: Uint8Array }> {
  const more: [number] = [0];
  const data = out();
  await call(c, 'GetCapability', ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, capability, property, count, more, data);
  return { moreData: more[0] !== 0, data: tss2().fromEsys('TPMS_CAPABILITY_DATA', data[0]) };
}

/** ESYS resource for a TPM handle (persistent object or NV index): Esys_TR_FromTPMPublic. */
export async function trFromTpmPublic(c: EsysContext, tpmHandle: number): Promise<EsysTr> {
  const object = outHandle();
  await call(c, 'TR_FromTPMPublic', tpmHandle, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, object);
  return object[0];
}

/** Release ESYS's metadata for a handle without touching the TPM: Esys_TR_Close. */
export function trClose(c: EsysContext, object: EsysTr): void {
  tss2().esys('TR_Close', c.ctx, [object]);
}

/** TPM2 Part 3 §12.4 TPM2_ReadPublic: Esys_ReadPublic. */
export async function readPublic(c: EsysContext, object: EsysTr): Promise<{ public: Uint8Array; name: Uint8Array }> {
  const pub = out();
  const name = out();
  const qualified = out();
  await call(c, 'ReadPublic', object, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, pub, name, qualified);
  const lib = tss2();
  lib.free(qualified[0]);
  const nameBytes = lib.fromEsys('TPM2B_NAME', name[0]);
  return { public: lib.fromEsys('TPM2B_PUBLIC', pub[0]), name: nameBytes.subarray(2) };
}

/** TPM2 Part 3 §24.1 TPM2_CreatePrimary: Esys_CreatePrimary. Returns a transient handle to flush. */
export async function createPrimary(
  c: EsysContext,
  hierarchy: EsysTr,
  template: Uint8Array,
  sessions: Sessions = PASSWORD,
): Promise<{ handle: EsysTr; public: Uint8Array }> {
  const lib = tss2();
  const handle = outHandle();
  const pub = out();
  const creationData = out();
  const creationHash = out();
  const creationTicket = out();
  await call(
    c, 'CreatePrimary', hierarchy, ...sessions,
    lib.toStruct('TPM2B_SENSITIVE_CREATE', EMPTY_SENSITIVE_CREATE),
    lib.toStruct('TPM2B_PUBLIC', new WireWriter().sized(template).finish()),
    lib.toStruct('TPM2B_DATA', EMPTY_2B),
    lib.toStruct('TPML_PCR_SELECTION', NO_PCRS),
    handle, pub, creationData, creationHash, creationTicket,
  );
  lib.free(creationData[0]);
  lib.free(creationHash[0]);
  lib.free(creationTicket[0]);
  return { handle: handle[0], public: lib.fromEsys('TPM2B_PUBLIC', pub[0]) };
}

/** TPM2 Part 3 §12.1 TPM2_Create: Esys_Create. Returns the TPM2B_PRIVATE and TPM2B_PUBLIC. */
export async function create(
  c: EsysContext,
  parent: EsysTr,
  template: Uint8Array,
  sessions: Sessions = PASSWORD,
): Promise<{ private: Uint8Array; public: Uint8Array }> {
  const lib = tss2();
  const priv = out();
  const pub = out();
  const creationData = out();
  const creationHash = out();
  const creationTicket = out();
  await call(
    c, 'Create', parent, ...sessions,
    lib.toStruct('TPM2B_SENSITIVE_CREATE', EMPTY_SENSITIVE_CREATE),
    lib.toStruct('TPM2B_PUBLIC', new WireWriter().sized(template).finish()),
    lib.toStruct('TPM2B_DATA', EMPTY_2B),
    lib.toStruct('TPML_PCR_SELECTION', NO_PCRS),
    priv, pub, creationData, creationHash, creationTicket,
  );
  lib.free(creationData[0]);
  lib.free(creationHash[0]);
  lib.free(creationTicket[0]);
  return { private: lib.fromEsys('TPM2B_PRIVATE', priv[0]), public: lib.fromEsys('TPM2B_PUBLIC', pub[0]) };
}

/** TPM2 Part 3 §12.2 TPM2_Load: Esys_Load. Returns a transient handle to flush. */
export async function load(
  c: EsysContext,
  parent: EsysTr,
  tpm2bPrivate: Uint8Array,
  tpm2bPublic: Uint8Array,
  sessions: Sessions = PASSWORD,
): Promise<EsysTr> {
  const lib = tss2();
  const handle = outHandle();
  await call(c, 'Load', parent, ...sessions, lib.toStruct('TPM2B_PRIVATE', tpm2bPrivate), lib.toStruct('TPM2B_PUBLIC', tpm2bPublic), handle);
  return handle[0];
}

/** TPM2 Part 3 §28.5 TPM2_EvictControl: Esys_EvictControl (owner authorization, empty password). */
export async function evictControl(c: EsysContext, object: EsysTr, persistentHandle: number): Promise<EsysTr> {
  const handle = outHandle();
  await call(c, 'EvictControl', ESYS_TR.RH_OWNER, object, ...PASSWORD, persistentHandle, handle);
  return handle[0];
}

/** TPM2 Part 3 §28.4 TPM2_FlushContext: Esys_FlushContext. */
export async function flushContext(c: EsysContext, handle: EsysTr): Promise<void> {
  await call(c, 'FlushContext', handle);
}

/** Prepared TPMT_SIG_SCHEME (RSASSA-SHA256) and null TPMT_TK_HASHCHECK, built once per process. */
let signStatics: { scheme: Buffer; validation: Buffer } | null = null;
/** One digest scratch buffer per context: ESYS reads it on a worker thread while other contexts run. */
const digestScratch = new WeakMap<EsysContext, Buffer>();

/**
 * TPM2 Part 3 §20.2 TPM2_Sign: Esys_Sign with RSASSA-SHA256 over a 32-byte digest, a null
 * hashcheck ticket (the key is not restricted). Returns the TPMT_SIGNATURE bytes.
 */
export async function sign(c: EsysContext, key: EsysTr, digest: Uint8Array, sessions: Sessions): Promise<Uint8Array> {
  const lib = tss2();
  signStatics ??= {
    scheme: lib.toStruct('TPMT_SIG_SCHEME', new WireWriter().u16(TPM_ALG.RSASSA).u16(TPM_ALG.SHA256).finish()),
    validation: lib.toStruct('TPMT_TK_HASHCHECK', new WireWriter().u16(TPM_ST.HASHCHECK).u32(TPM_RH.NULL).u16(0).finish()),
  };
  let scratch = digestScratch.get(c);
  if (!scratch) digestScratch.set(c, (scratch = Buffer.alloc(8192)));
  const signature = out();
  // The digest buffer is reused per context: callers serialize commands on a context.
  const digestStruct = lib.toStruct('TPM2B_DIGEST', new WireWriter().sized(digest).finish(), scratch);
  await call(c, 'Sign', key, ...sessions, digestStruct, signStatics.scheme, signStatics.validation, signature);
  return lib.fromEsys('TPMT_SIGNATURE', signature[0]);
}

/** TPM2 Part 3 §31.6 TPM2_NV_ReadPublic: Esys_NV_ReadPublic. Returns TPM2B_NV_PUBLIC bytes. */
export async function nvReadPublic(c: EsysContext, nvIndex: EsysTr): Promise<Uint8Array> {
  const pub = out();
  const name = out();
  await call(c, 'NV_ReadPublic', nvIndex, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, pub, name);
  tss2().free(name[0]);
  return tss2().fromEsys('TPM2B_NV_PUBLIC', pub[0]);
}

/** TPM2 Part 3 §31.13 TPM2_NV_Read: Esys_NV_Read (one chunk). Returns the data bytes. */
export async function nvRead(
  c: EsysContext,
  authHandle: EsysTr,
  nvIndex: EsysTr,
  size: number,
  offset: number,
  sessions: Sessions = PASSWORD,
): Promise<Uint8Array> {
  const data = out();
  await call(c, 'NV_Read', authHandle, nvIndex, ...sessions, size, offset, data);
  return tss2().fromEsys('TPM2B_MAX_NV_BUFFER', data[0]).subarray(2);
}

/**
 * TPM2 Part 3 §31.3 TPM2_NV_DefineSpace: Esys_NV_DefineSpace, owner authorization (empty
 * password, as for the project's other owner-hierarchy objects) and an empty index auth value.
 * `nvPublic` is a TPMS_NV_PUBLIC (wire bytes). Returns the ESYS resource of the new index.
 */
export async function nvDefineSpace(c: EsysContext, nvPublicArea: Uint8Array): Promise<EsysTr> {
  const lib = tss2();
  const handle = outHandle();
  await call(
    c, 'NV_DefineSpace', ESYS_TR.RH_OWNER, ...PASSWORD,
    lib.toStruct('TPM2B_AUTH', EMPTY_2B),
    lib.toStruct('TPM2B_NV_PUBLIC', new WireWriter().sized(nvPublicArea).finish()),
    handle,
  );
  return handle[0];
}

/** TPM2 Part 3 §31.8 TPM2_NV_Increment: Esys_NV_Increment (`authHandle`: owner or the index itself). */
export async function nvIncrement(c: EsysContext, authHandle: EsysTr, nvIndex: EsysTr, sessions: Sessions = PASSWORD): Promise<void> {
  await call(c, 'NV_Increment', authHandle, nvIndex, ...sessions);
}

/**
 * TPM2 Part 3 §11.1 TPM2_StartAuthSession: Esys_StartAuthSession with AES-128-CFB parameter
 * encryption and SHA-256. With `saltKey` the session key is salted with a secret encrypted to
 * that key, so a bus observer cannot derive it.
 */
export async function startAuthSession(
  c: EsysContext,
  type: 'hmac' | 'policy',
  saltKey: EsysTr = ESYS_TR.NONE,
  attributes = 0,
): Promise<EsysTr> {
  const lib = tss2();
  const session = outHandle();
  const symmetric = lib.toStruct('TPMT_SYM_DEF', new WireWriter().u16(TPM_ALG.AES).u16(128).u16(TPM_ALG.CFB).finish());
  await call(
    c, 'StartAuthSession', saltKey, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, null,
    type === 'hmac' ? TPM_SE.HMAC : TPM_SE.POLICY, symmetric, TPM_ALG.SHA256, session,
  );
  if (attributes !== 0) {
    const rc = lib.esys('TRSess_SetAttributes', c.ctx, session[0], attributes | TPMA_SESSION.continueSession, 0xff);
    if (rc !== 0) throw new TpmRcError(rc, 'Esys_TRSess_SetAttributes', lib.decodeRc(rc), c.tcti);
  }
  return session[0];
}

/** TPM2 Part 3 §23.4 TPM2_PolicySecret: Esys_PolicySecret (password authorization of authHandle). */
export async function policySecret(c: EsysContext, authHandle: EsysTr, policySession: EsysTr): Promise<void> {
  const timeout = out();
  const ticket = out();
  await call(c, 'PolicySecret', authHandle, policySession, ...PASSWORD, null, null, null, 0, timeout, ticket);
  tss2().free(timeout[0]);
  tss2().free(ticket[0]);
}

/**
 * TPM2 Part 3 §12.5 TPM2_ActivateCredential: Esys_ActivateCredential. `sessions[0]` authorizes
 * the activated object (ADMIN role), `sessions[1]` the key that decrypts the seed (the EK).
 * Returns the recovered secret (TPM2B_DIGEST contents).
 */
export async function activateCredential(
  c: EsysContext,
  activateHandle: EsysTr,
  keyHandle: EsysTr,
  credentialBlob: Uint8Array,
  encryptedSecret: Uint8Array,
  sessions: Sessions,
): Promise<Uint8Array> {
  const lib = tss2();
  const certInfo = out();
  await call(
    c, 'ActivateCredential', activateHandle, keyHandle, ...sessions,
    lib.toStruct('TPM2B_ID_OBJECT', credentialBlob),
    lib.toStruct('TPM2B_ENCRYPTED_SECRET', encryptedSecret),
    certInfo,
  );
  return lib.fromEsys('TPM2B_DIGEST', certInfo[0]).subarray(2);
}

export { TPM_CAP };
