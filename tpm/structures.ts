// Parsers for the TPM structures the binding reads back (TPM2 Part 2), bounded and strict.
import { TPM_ALG, TPM_CAP } from './constants.ts';
import { TpmWireError } from './errors.ts';
import { WireReader } from './wire.ts';

/** TPMT_SIGNATURE with an RSASSA signature (TPM2 Part 2 §11.3.4): the raw signature bytes. */
export function rsassaSignature(tpmtSignature: Uint8Array): Uint8Array {
  const r = new WireReader(tpmtSignature, 'TPMT_SIGNATURE');
  const sigAlg = r.u16();
  const hash = r.u16();
  if (sigAlg !== TPM_ALG.RSASSA || hash !== TPM_ALG.SHA256) {
    throw new TpmWireError(`TPMT_SIGNATURE: expected RSASSA-SHA256, got alg 0x${sigAlg.toString(16)} hash 0x${hash.toString(16)}`);
  }
  const signature = r.sized(512, 'signature');
  r.end();
  return signature;
}

/** TPMS_CAPABILITY_DATA for TPM_CAP_TPM_PROPERTIES: property -> value. */
export function taggedProperties(data: Uint8Array): Map<number, number> {
  const r = new WireReader(data, 'TPMS_CAPABILITY_DATA');
  const cap = r.u32();
  if (cap !== TPM_CAP.TPM_PROPERTIES) throw new TpmWireError(`expected TPM properties, got capability ${cap}`);
  const count = r.u32();
  if (count > 256) throw new TpmWireError(`TPML_TAGGED_TPM_PROPERTY count ${count} exceeds 256`);
  const out = new Map<number, number>();
  for (let i = 0; i < count; i++) out.set(r.u32(), r.u32());
  return out;
}

/** TPMS_CAPABILITY_DATA for TPM_CAP_HANDLES: the handle list. */
export function handleList(data: Uint8Array): number[] {
  const r = new WireReader(data, 'TPMS_CAPABILITY_DATA');
  const cap = r.u32();
  if (cap !== TPM_CAP.HANDLES) throw new TpmWireError(`expected handles, got capability ${cap}`);
  const count = r.u32();
  if (count > 256) throw new TpmWireError(`TPML_HANDLE count ${count} exceeds 256`);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(r.u32());
  return out;
}

/** TPM2B_NV_PUBLIC (TPM2 Part 2 §13.5): the fields the binding needs. */
export function nvPublic(tpm2bNvPublic: Uint8Array): { index: number; attributes: number; dataSize: number } {
  const r = new WireReader(tpm2bNvPublic, 'TPM2B_NV_PUBLIC');
  const inner = new WireReader(r.sized(256, 'nvPublic'), 'TPMS_NV_PUBLIC');
  const index = inner.u32();
  inner.u16(); // nameAlg
  const attributes = inner.u32();
  inner.sized(64, 'authPolicy');
  const dataSize = inner.u16();
  inner.end();
  return { index, attributes, dataSize };
}

/** Four big-endian bytes of a TPM property as ASCII, without trailing NULs and spaces. */
export function propertyText(value: number): string {
  let s = '';
  for (const shift of [24, 16, 8, 0]) {
    const c = (value >>> shift) & 0xff;
    if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
  }
  return s.trim();
}
