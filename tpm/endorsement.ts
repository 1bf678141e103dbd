// Which endorsement key a TPM is filed under, and how it authorizes ActivateCredential. The RSA EK
// (template L-1, 0x81010001) whenever its certificate is in NV 0x01C00002, as before; otherwise
// an ECC EK whose certificate is there: the P-256 one of template L-2 (0x81010002, certificate at
// 0x01C0000A; most real TPMs) or the high-range P-384 one (0x81010016, certificate at 0x01C00016;
// swtpm makes it). One rule here, so the factory files and the device activates with the same EK.
import { ESYS_TR, HANDLE, ObjectAttr, TPM_CAP, TPM_PT } from './constants.ts';
import { TpmError } from './errors.ts';
import { hex } from './handles.ts';
import { nvPublic, taggedProperties } from './structures.ts';
import * as esys from './esys.ts';
import type { EsysContext, EsysTr } from './esys.ts';
import { parsePublic, type TpmPublic } from './public-area.ts';
import { EK_POLICY_SHA256, EK_RSA_ATTRIBUTES, ekRsaTemplate } from './templates.ts';

export type EkKind = 'rsa' | 'ecc';

export interface Endorsement {
  readonly kind: EkKind;
  readonly tr: EsysTr;
  readonly pub: TpmPublic;
  /** NV index of its certificate. */
  readonly certificateIndex: number;
}

/** What the binding needs from its connection: ESYS handles of persistent objects and NV indices (null: absent). */
export interface Resources {
  resource(c: EsysContext, tpmHandle: number): Promise<EsysTr | null>;
}

const ECC_EKS = [
  { key: HANDLE.EK_ECC, certificate: HANDLE.NV_EK_CERT_ECC },
  { key: HANDLE.EK_ECC_P384, certificate: HANDLE.NV_EK_CERT_ECC_P384 },
] as const;

/** Every index an EK certificate may be read from. */
export const EK_CERTIFICATE_INDICES: readonly number[] = [HANDLE.NV_EK_CERT_RSA, ...ECC_EKS.map((e) => e.certificate)];

const STORAGE = ObjectAttr.restricted | ObjectAttr.decrypt | ObjectAttr.fixedTPM | ObjectAttr.fixedParent;

/** Runs `use` with the TPM's filed EK loaded (a transient RSA EK from the template is flushed afterwards). */
export async function withEndorsement<T>(c: EsysContext, r: Resources, use: (ek: Endorsement) => Promise<T>): Promise<T> {
  if ((await r.resource(c, HANDLE.NV_EK_CERT_RSA)) === null) {
    for (const e of ECC_EKS) {
      const tr = await r.resource(c, e.key);
      if (tr === null || (await r.resource(c, e.certificate)) === null) continue;
      const pub = parsePublic((await esys.readPublic(c, tr)).public);
      if (pub.ecc !== undefined && (pub.objectAttributes & STORAGE) === STORAGE) return use({ kind: 'ecc', tr, pub, certificateIndex: e.certificate });
    }
  }
  const persistent = await r.resource(c, HANDLE.EK_RSA);
  if (persistent !== null) {
    const pub = parsePublic((await esys.readPublic(c, persistent)).public);
    if (pub.objectAttributes === EK_RSA_ATTRIBUTES && Buffer.from(pub.authPolicy).equals(EK_POLICY_SHA256)) {
      return use({ kind: 'rsa', tr: persistent, pub, certificateIndex: HANDLE.NV_EK_CERT_RSA });
    }
  }
  const { handle, public: area } = await esys.createPrimary(c, ESYS_TR.RH_ENDORSEMENT, ekRsaTemplate());
  try {
    return await use({ kind: 'rsa', tr: handle, pub: parsePublic(area), certificateIndex: HANDLE.NV_EK_CERT_RSA });
  } finally {
    await esys.flushContext(c, handle).catch(() => undefined);
  }
}

/**
 * How the EK authorizes ActivateCredential: an EK with userWithAuth (swtpm's P-384 one) by its
 * empty auth value; one without (templates L-1, L-2) by its TCG policy, PolicySecret(endorsement)
 * in a SHA-256 policy session, which only a SHA-256 EK policy matches.
 */
export function ekAuthorization(pub: TpmPublic): 'password' | 'policy-secret' | null {
  if ((pub.objectAttributes & ObjectAttr.userWithAuth) !== 0) return 'password';
  return pub.nameAlg === 0x000b ? 'policy-secret' : null;
}

const MAX_EK_CERT_BYTES = 8192;
const DEFAULT_NV_CHUNK = 1024;

/** The EK certificate (DER) in the NV index `index` (ESYS handle of `nvIndex`), read in chunks the TPM allows. */
export async function readEkCertificateAt(c: EsysContext, index: EsysTr, nvIndex: number): Promise<Uint8Array> {
  const { dataSize } = nvPublic(await esys.nvReadPublic(c, index));
  if (dataSize > MAX_EK_CERT_BYTES) throw new TpmError('ERR_TPM_WIRE', `EK certificate at ${hex(nvIndex)} is ${dataSize} bytes, more than ${MAX_EK_CERT_BYTES}`);
  const { data } = await esys.getCapability(c, TPM_CAP.TPM_PROPERTIES, TPM_PT.NV_BUFFER_MAX, 1);
  const chunk = Math.min(DEFAULT_NV_CHUNK, taggedProperties(data).get(TPM_PT.NV_BUFFER_MAX) || DEFAULT_NV_CHUNK);
  const cert = new Uint8Array(dataSize);
  for (let offset = 0; offset < dataSize; offset += chunk) {
    const size = Math.min(chunk, dataSize - offset);
    // The EK certificate index allows AUTHREAD with an empty auth value, so no owner password is needed.
    const part = await esys.nvRead(c, index, index, size, offset);
    if (part.length !== size) throw new TpmError('ERR_TPM_WIRE', `NV_Read returned ${part.length} bytes, asked for ${size}`);
    cert.set(part, offset);
  }
  return cert;
}

/** At most this many chain indices are read, and at most this many certificates returned. */
export const MAX_EK_CHAIN_INDICES = 8;
export const MAX_EK_CHAIN_CERTS = 8;

/**
 * The certificates of an EK chain index's contents: one or more DER certificates back to back.
 * Each must be a complete DER SEQUENCE (definite length); trailing 0xff or 0x00 padding, as some
 * TPMs leave after the last one in a fixed-size index, ends the list.
 */
export function splitDerCertificates(bytes: Uint8Array, nvIndex: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < bytes.length && bytes[o] === 0x30) {
    let len = bytes[o + 1] ?? 0;
    let p = o + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || p + n > bytes.length) throw new TpmError('ERR_TPM_WIRE', `EK chain at ${hex(nvIndex)}: certificate ${out.length + 1} has a bad DER length`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + bytes[p + i]!;
      p += n;
    }
    if (p + len > bytes.length) throw new TpmError('ERR_TPM_WIRE', `EK chain at ${hex(nvIndex)}: certificate ${out.length + 1} runs past the end of the index`);
    out.push(bytes.slice(o, p + len));
    o = p + len;
  }
  if (o < bytes.length && bytes.subarray(o).some((b) => b !== 0xff && b !== 0x00)) {
    throw new TpmError('ERR_TPM_WIRE', `EK chain at ${hex(nvIndex)}: byte ${o} is not the start of a DER certificate`);
  }
  return out;
}
