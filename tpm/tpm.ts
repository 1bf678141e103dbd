// The typed, promise-based TPM API of node-tpm2. Every method runs its TPM commands as one
// serialized unit on the connection (see connection.ts) and flushes every transient object and
// session it creates, also when a command fails.
import { createHash } from 'node:crypto';
import { ESYS_TR, HANDLE, ObjectAttr, TPM_CAP, TPM_PT, TPMA_SESSION } from './constants.ts';
import { TpmArgumentError, TpmError, TpmRcError } from './errors.ts';
import * as esys from './esys.ts';
import { tss2 } from './ffi.ts';
import type { EsysContext, EsysTr, Sessions } from './esys.ts';
import { checkCounterIndex, checkSealingHandle, hex } from './handles.ts';
import { checkSealCounter, counterValue, sealCounterPublic, type NvCounterInfo } from './nv-counter.ts';
import { baseTpmRc, TPM_RC } from './rc.ts';
import { TpmConnection, type ConnectionOptions } from './connection.ts';
import { hasAttributes, objectName, parsePublic, publicKeyPem, signatureMatches, type TpmPublic } from './public-area.ts';
import { handleList, propertyText, rsassaSignature, taggedProperties } from './structures.ts';
import { sealingKeyTemplate, srkRsaTemplate } from './templates.ts';
import { sealingKeyProblem } from './key-rules.ts';
import { ekAuthorization, EK_CERTIFICATE_INDICES, MAX_EK_CHAIN_CERTS, MAX_EK_CHAIN_INDICES, readEkCertificateAt, splitDerCertificates, withEndorsement, type EkKind, type Resources } from './endorsement.ts';
import { toHex } from '../firmware/core/bytes.ts';

export interface OpenTpmOptions extends Omit<ConnectionOptions, 'onReconnect' | 'onStaleReference'> {
  /**
   * Session for TPM2_Sign. 'password' (default): the digest is a public block hash, so there is
   * nothing secret on the bus, and every signature is verified against the key's public area in
   * software, which catches a tampered response as an HMAC session would, for a fraction of the
   * cost (measured: about 3 ms per signature against 6 ms with a salted HMAC session on swtpm).
   * 'encrypted': a salted HMAC session with AES-128-CFB parameter encryption.
   * ActivateCredential always uses a salted, encrypted session: its output is the secret.
   */
  readonly signSession?: 'encrypted' | 'password';
}

export interface SealingKeyInfo {
  readonly handle: number;
  readonly public: TpmPublic;
  /** TPM2B_PUBLIC bytes, as the registrar expects them. */
  readonly publicArea: Uint8Array;
  readonly publicKeyPem: string;
  /** TPM name (nameAlg || digest), hex. */
  readonly name: string;
}

export interface TpmInfo {
  readonly manufacturer: string;
  readonly vendor: string;
  readonly firmwareVersion: string;
  readonly ek: { readonly publicKeyPem: string; readonly certificatePem: string | null };
  readonly sealingKey: { readonly handle: string; readonly publicKeyPem: string; readonly name: string } | null;
}

const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * Size of a lottery message: a 32-byte hash || uint32be round (lotteryMessage in
 * firmware/protocol/chain/lottery.ts; the binding does not import the protocol layer, and
 * test/tpm/lottery-key.test.ts checks that the two agree).
 */
export const LOTTERY_MESSAGE_BYTES = 36;

/** Signs lottery messages with one sealing key; one holder per handle at a time (Tpm.lotteryKey). */
export interface LotteryKey {
  readonly handle: number;
  /** RSASSA-PKCS1-v1_5-SHA256 over a 36-byte lottery message. Bound: it may be passed on alone. */
  readonly sign: (message: Uint8Array) => Promise<Uint8Array>;
  /** Gives the key back (idempotent); this object signs no more, and the handle can be claimed again. */
  readonly release: () => void;
}

export async function openTpm(options: OpenTpmOptions): Promise<Tpm> {
  const tpm = new Tpm(options);
  await tpm.connection.open();
  return tpm;
}

export class Tpm {
  /** The binding's handle cache, for the EK choice (endorsement.ts). */
  readonly #resources: Resources = { resource: (c, h) => this.resource(c, h) };
  readonly connection: TpmConnection;
  private readonly encrypted: boolean;
  /** ESYS handles of persistent objects and the signing session; valid for one connection. */
  private readonly resources = new Map<number, EsysTr>();
  private readonly keys = new Map<number, SealingKeyInfo>();
  private signSession: EsysTr | null = null;
  /** Handles whose lottery key is held, and by which claim. */
  readonly #lotteryClaims = new Map<number, symbol>();

  constructor(options: OpenTpmOptions) {
    this.encrypted = options.signSession === 'encrypted';
    this.connection = new TpmConnection({
      ...options,
      onReconnect: () => {
        this.resources.clear();
        this.signSession = null;
      },
      onStaleReference: async (c) => {
        // Flush the signing session if the TPM still has it, and drop every cached ESYS handle.
        if (this.signSession !== null) await flushQuietly(c, this.signSession);
        for (const tr of this.resources.values()) esys.trClose(c, tr);
        this.resources.clear();
        this.signSession = null;
      },
    });
  }

  get tcti(): string {
    return this.connection.tcti;
  }

  /** Manufacturer, firmware, EK and sealing key, as `btn-node tpm info` prints them. */
  async info(options: { handle?: number } = {}): Promise<TpmInfo> {
    const props = await this.properties([TPM_PT.MANUFACTURER, TPM_PT.FIRMWARE_VERSION_1, TPM_PT.FIRMWARE_VERSION_2]);
    const vendorProps = await this.properties([0x106, 0x107, 0x108, 0x109]);
    const fw1 = props.get(TPM_PT.FIRMWARE_VERSION_1) ?? 0;
    const fw2 = props.get(TPM_PT.FIRMWARE_VERSION_2) ?? 0;
    const ek = await this.ekPublic();
    const cert = await this.readEkCertificate();
    const key = await this.sealingKey(options);
    return {
      manufacturer: propertyText(props.get(TPM_PT.MANUFACTURER) ?? 0),
      vendor: [...vendorProps.values()].map(propertyText).join(''),
      firmwareVersion: `${fw1 >>> 16}.${fw1 & 0xffff}.${fw2 >>> 16}.${fw2 & 0xffff}`,
      ek: { publicKeyPem: publicKeyPem(ek), certificatePem: cert ? derToPem(cert) : null },
      sealingKey: key ? { handle: hex(key.handle), publicKeyPem: key.publicKeyPem, name: key.name } : null,
    };
  }

  /** TPM2_GetCapability(TPM_PROPERTIES) for the given properties. */
  properties(wanted: readonly number[]): Promise<Map<number, number>> {
    return this.connection.run('GetCapability', async (c) => {
      const out = new Map<number, number>();
      for (const property of wanted) {
        const { data } = await esys.getCapability(c, TPM_CAP.TPM_PROPERTIES, property, 1);
        const value = taggedProperties(data).get(property);
        if (value !== undefined) out.set(property, value);
      }
      return out;
    });
  }

  /** Handles currently loaded in a range (0x80000000 transient, 0x81000000 persistent). */
  handles(first: number = HANDLE.TRANSIENT_FIRST): Promise<number[]> {
    return this.connection.run('GetCapability', async (c) => handleList((await esys.getCapability(c, TPM_CAP.HANDLES, first, 128)).data));
  }

  /**
   * The public area of the EK this TPM is filed under (endorsement.ts): the RSA EK when its
   * certificate is in NV (the persistent EK, else one made from the TCG template), else an ECC EK
   * with a certificate.
   */
  ekPublic(): Promise<TpmPublic> {
    return this.connection.run('EK', (c) => withEndorsement(c, this.#resources, async (ek) => ek.pub));
  }

  /** Which kind of EK this TPM is filed under, and the NV index of its certificate. */
  endorsementKind(): Promise<{ readonly kind: EkKind; readonly certificateIndex: number }> {
    return this.connection.run('EK', (c) => withEndorsement(c, this.#resources, async (ek) => ({ kind: ek.kind, certificateIndex: ek.certificateIndex })));
  }

  /** An EK certificate (DER) read in chunks, by default the filed EK's; null when absent. */
  async readEkCertificate(nvIndex?: number): Promise<Uint8Array | null> {
    if (nvIndex !== undefined && !EK_CERTIFICATE_INDICES.includes(nvIndex)) {
      throw new TpmArgumentError(`EK certificate index must be one of ${EK_CERTIFICATE_INDICES.map(hex).join(', ')}, got ${hex(nvIndex)}`);
    }
    const index = nvIndex ?? (await this.endorsementKind()).certificateIndex;
    return this.readCertificate(index);
  }

  /**
   * The EK certificate chain from NV 0x01C00100-0x01C001FF, in index order (empty when the TPM
   * keeps none): intermediates between the EK certificate and the vendor's root, as DER.
   */
  async readEkCertificateChain(): Promise<Uint8Array[]> {
    const indices = (await this.handles(HANDLE.NV_EK_CHAIN_FIRST)).filter((h) => h <= HANDLE.NV_EK_CHAIN_LAST);
    if (indices.length > MAX_EK_CHAIN_INDICES) throw new TpmError('ERR_TPM_WIRE', `the TPM defines ${indices.length} EK chain indices, more than ${MAX_EK_CHAIN_INDICES}`);
    const certs: Uint8Array[] = [];
    for (const index of indices) {
      const bytes = await this.readCertificate(index);
      if (bytes !== null) certs.push(...splitDerCertificates(bytes, index));
      if (certs.length > MAX_EK_CHAIN_CERTS) throw new TpmError('ERR_TPM_WIRE', `the EK chain indices hold more than ${MAX_EK_CHAIN_CERTS} certificates`);
    }
    return certs;
  }

  private readCertificate(nvIndex: number): Promise<Uint8Array | null> {
    return this.connection.run('NV_Read', async (c) => {
      const index = await this.optionalResource(c, nvIndex);
      return index === null ? null : readEkCertificateAt(c, index, nvIndex);
    });
  }

  /** The sealing key at `handle`, or null when the handle is empty. Fails if it holds another kind of object. */
  async sealingKey(options: { handle?: number } = {}): Promise<SealingKeyInfo | null> {
    const handle = checkSealingHandle(options.handle ?? HANDLE.SEALING_KEY_DEFAULT);
    return this.connection.run('ReadPublic', (c) => this.loadSealingKeyInfo(c, handle));
  }

  /** Create the SRK and the sealing key where missing, persist them; idempotent. */
  async ensureSealingKey(options: { handle?: number } = {}): Promise<SealingKeyInfo> {
    const handle = checkSealingHandle(options.handle ?? HANDLE.SEALING_KEY_DEFAULT);
    return this.connection.run('ensureSealingKey', async (c) => {
      const existing = await this.loadSealingKeyInfo(c, handle);
      if (existing) return existing;
      const srk = await this.ensureSrk(c);
      const created = await esys.create(c, srk, sealingKeyTemplate());
      const transient = await esys.load(c, srk, created.private, created.public);
      try {
        await esys.evictControl(c, transient, handle);
      } finally {
        await flushQuietly(c, transient);
      }
      const info = await this.loadSealingKeyInfo(c, handle);
      if (!info) throw new TpmError('ERR_TPM_KEY_MISMATCH', `sealing key vanished from ${hex(handle)} right after it was persisted`);
      return info;
    });
  }

  /** The seal counter at `index` (default 0x01000B70; docs/keys.md), or null when the index is not defined. */
  nvCounter(options: { index?: number } = {}): Promise<NvCounterInfo | null> {
    const index = checkCounterIndex(options.index ?? HANDLE.NV_SEAL_COUNTER_DEFAULT);
    return this.connection.run('NV_ReadPublic', (c) => this.#withCounter(c, index, (tr, info) => this.#counterValue(c, tr, index, info)));
  }

  /** Defines the seal counter where missing (TPM2_NV_DefineSpace, owner auth); idempotent. Refuses an index that holds anything else. */
  ensureNvCounter(options: { index?: number } = {}): Promise<NvCounterInfo> {
    const index = checkCounterIndex(options.index ?? HANDLE.NV_SEAL_COUNTER_DEFAULT);
    return this.connection.run('NV_DefineSpace', async (c) => {
      const existing = await this.#withCounter(c, index, (tr, info) => this.#counterValue(c, tr, index, info));
      if (existing !== null) return existing;
      esys.trClose(c, await esys.nvDefineSpace(c, sealCounterPublic(index)));
      const made = await this.#withCounter(c, index, (tr, info) => this.#counterValue(c, tr, index, info));
      if (made === null) throw new TpmError('ERR_TPM_NV_MISMATCH', `NV counter vanished from ${hex(index)} right after it was defined`);
      return made;
    });
  }

  /**
   * TPM2_NV_Increment (TPM2 Part 3 §31.8, owner auth) on the seal counter, then its count read
   * back: what the caller records is what the TPM holds, even when a retry or another tool
   * incremented it too. One NV write per call.
   */
  incrementNvCounter(options: { index?: number } = {}): Promise<number> {
    const index = checkCounterIndex(options.index ?? HANDLE.NV_SEAL_COUNTER_DEFAULT);
    return this.connection.run('NV_Increment', async (c) => {
      const value = await this.#withCounter(c, index, async (tr) => {
        await esys.nvIncrement(c, ESYS_TR.RH_OWNER, tr);
        return counterValue(await esys.nvRead(c, tr, tr, 8, 0));
      });
      if (value === null) throw new TpmError('ERR_TPM_NV_MISMATCH', `no NV counter at ${hex(index)}; run "btn-node tpm init" first`);
      return value;
    });
  }

  // NV resources are not cached: the index's name changes with its first write (WRITTEN), also
  // when another tool writes it, and the counter is used once per seal.
  async #withCounter<T>(c: EsysContext, index: number, fn: (tr: EsysTr, info: { attributes: number; written: boolean }) => Promise<T>): Promise<T | null> {
    const tr = await this.optionalResource(c, index);
    if (tr === null) return null;
    try {
      return await fn(tr, checkSealCounter(index, await esys.nvReadPublic(c, tr)));
    } finally {
      esys.trClose(c, tr);
    }
  }

  async #counterValue(c: EsysContext, tr: EsysTr, index: number, info: { attributes: number; written: boolean }): Promise<NvCounterInfo> {
    // AUTHREAD with the index's empty auth value, as tpm2_nvread does by default.
    const value = info.written ? counterValue(await esys.nvRead(c, tr, tr, 8, 0)) : null;
    return { index, attributes: info.attributes, written: info.written, value };
  }

  /**
   * The capability to make lottery signatures with the sealing key at `handle`, held by one owner
   * at a time per handle and Tpm object: the seal signer takes it when the node is built
   * (firmware/sealing/seal-signer.ts) and releases it when the node stops, so while a node runs
   * nothing else in the process can sign a lottery message with that key. A claim while it is
   * held fails with ERR_TPM_LOTTERY_KEY_TAKEN; a released key signs no more.
   */
  lotteryKey(options: { handle?: number } = {}): LotteryKey {
    const handle = checkSealingHandle(options.handle ?? HANDLE.SEALING_KEY_DEFAULT);
    if (this.#lotteryClaims.has(handle)) {
      throw new TpmError('ERR_TPM_LOTTERY_KEY_TAKEN', `the lottery key at ${hex(handle)} is already held (by a seal signer); lottery messages are signed only through it`);
    }
    const claim = Symbol(hex(handle));
    this.#lotteryClaims.set(handle, claim);
    const held = (): boolean => this.#lotteryClaims.get(handle) === claim;
    return {
      handle,
      sign: async (message) => {
        if (!held()) throw new TpmError('ERR_TPM_CLOSED', `this lottery key at ${hex(handle)} was released`);
        if (!(message instanceof Uint8Array) || message.length !== LOTTERY_MESSAGE_BYTES) {
          throw new TpmArgumentError(`a lottery message is ${LOTTERY_MESSAGE_BYTES} bytes (hash || uint32 round), got ${message instanceof Uint8Array ? `${message.length} bytes` : typeof message}`);
        }
        return this.#signDigest(sha256(message), handle);
      },
      release: () => {
        if (held()) this.#lotteryClaims.delete(handle);
      },
    };
  }

  /**
   * The TPM signs SHA-256(message) with the sealing key (RSASSA-PKCS1-v1_5-SHA256), for uses
   * other than the lottery (`btn-node tpm selftest`). A lottery-shaped message (exactly 36 bytes)
   * is refused: those are signed only through lotteryKey(). There is no public sign over a bare
   * digest, which could carry the digest of a lottery message.
   */
  async sign(message: Uint8Array, options: { handle?: number } = {}): Promise<Uint8Array> {
    if (!(message instanceof Uint8Array) || message.length > MAX_MESSAGE_BYTES) {
      throw new TpmArgumentError(`message must be a Uint8Array of at most ${MAX_MESSAGE_BYTES} bytes`);
    }
    if (message.length === LOTTERY_MESSAGE_BYTES) {
      throw new TpmArgumentError(`a ${LOTTERY_MESSAGE_BYTES}-byte message is lottery-shaped (hash || uint32 round): only the lottery key held by the seal signer signs those`);
    }
    return this.#signDigest(sha256(message), checkSealingHandle(options.handle ?? HANDLE.SEALING_KEY_DEFAULT));
  }

  /**
   * TPM2_ActivateCredential for the sealing key under the EK (TPM2 Part 1 §24): recovers the
   * secret that MakeCredential bound to this TPM's EK and the sealing key's name. The EK is
   * authorized by a policy session with PolicySecret(TPM_RH_ENDORSEMENT), its TCG policy.
   * `credentialBlob` is a TPM2B_ID_OBJECT, `secret` a TPM2B_ENCRYPTED_SECRET (wire bytes).
   */
  async activateCredential(input: { credentialBlob: Uint8Array; secret: Uint8Array; handle?: number }): Promise<Uint8Array> {
    for (const [field, value] of [['credentialBlob', input.credentialBlob], ['secret', input.secret]] as const) {
      if (!(value instanceof Uint8Array) || value.length < 2 || value.length > 1024) {
        throw new TpmArgumentError(`${field} must be TPM2B wire bytes of 2..1024 bytes`);
      }
    }
    const handle = checkSealingHandle(input.handle ?? HANDLE.SEALING_KEY_DEFAULT);
    return this.connection.run('ActivateCredential', async (c) => {
      if (!(await this.loadSealingKeyInfo(c, handle, true))) {
        throw new TpmError('ERR_TPM_KEY_MISMATCH', `no sealing key at ${hex(handle)}; run "btn-node tpm init" first`);
      }
      const key = (await this.resource(c, handle))!;
      return withEndorsement(c, this.#resources, async (ek) => {
        const auth = ekAuthorization(ek.pub);
        if (auth === null) throw new TpmError('ERR_TPM_KEY_MISMATCH', `the ${ek.kind.toUpperCase()} EK's policy needs a policy session of its nameAlg 0x${ek.pub.nameAlg.toString(16)}, which this binding does not build`);
        const policy = auth === 'policy-secret' ? await esys.startAuthSession(c, 'policy') : null;
        let salted: EsysTr | null = null;
        try {
          if (policy !== null) await esys.policySecret(c, ESYS_TR.RH_ENDORSEMENT, policy);
          // Salted with the EK itself: the recovered secret leaves the TPM encrypted.
          salted = await esys.startAuthSession(c, 'hmac', ek.tr, TPMA_SESSION.decrypt | TPMA_SESSION.encrypt);
          return await esys.activateCredential(c, key, ek.tr, input.credentialBlob, input.secret, [salted, policy ?? ESYS_TR.PASSWORD, ESYS_TR.NONE]);
        } finally {
          if (policy !== null) await flushQuietly(c, policy);
          if (salted !== null) await flushQuietly(c, salted);
        }
      });
    });
  }

  async close(): Promise<void> {
    await this.connection.run('close', async (c) => {
      if (this.signSession !== null) await flushQuietly(c, this.signSession);
      this.signSession = null;
    }).catch(() => undefined);
    await this.connection.close();
  }

  /** RSASSA-PKCS1-v1_5-SHA256 over a 32-byte SHA-256 digest (TPM2_Sign, TPM2 Part 3 §20.2); ES-private, reached only through sign() and lotteryKey(). */
  async #signDigest(digest: Uint8Array, handle: number): Promise<Uint8Array> {
    return this.connection.run('Sign', async (c) => {
      const key = await this.loadSealingKeyInfo(c, handle, true);
      if (!key) throw new TpmError('ERR_TPM_KEY_MISMATCH', `no sealing key at ${hex(handle)}; run "btn-node tpm init" first`);
      const sessions: Sessions = this.encrypted ? [await this.session(c, TPMA_SESSION.decrypt), ESYS_TR.NONE, ESYS_TR.NONE] : esys.PASSWORD;
      const signature = rsassaSignature(await esys.sign(c, (await this.resource(c, handle))!, digest, sessions));
      // A TPM response is outside input too: check it before anyone acts on it.
      if (!signatureMatches(key.public, digest, signature)) throw new TpmError('ERR_TPM_WIRE', `TPM returned a signature that does not verify under the key at ${hex(handle)}`);
      return signature;
    });
  }

  // ---- helpers; each runs inside connection.run ----

  private async loadSealingKeyInfo(c: EsysContext, handle: number, useCache = false): Promise<SealingKeyInfo | null> {
    const cached = this.keys.get(handle);
    if (useCache && cached && this.resources.has(handle)) return cached;
    const tr = await this.resource(c, handle);
    if (tr === null) return null;
    const { public: area } = await esys.readPublic(c, tr);
    const pub = parsePublic(area);
    const problem = sealingKeyProblem(pub);
    if (problem) throw new TpmError('ERR_TPM_KEY_MISMATCH', `object at ${hex(handle)} cannot be the sealing key: ${problem}; choose another --handle`);
    const info: SealingKeyInfo = { handle, public: pub, publicArea: area, publicKeyPem: publicKeyPem(pub), name: toHex(objectName(pub)) };
    this.keys.set(handle, info);
    return info;
  }

  /** The SRK at 0x81000001, created from the TCG template and persisted when absent. */
  private async ensureSrk(c: EsysContext): Promise<EsysTr> {
    const existing = await this.resource(c, HANDLE.SRK);
    if (existing !== null) {
      const pub = parsePublic((await esys.readPublic(c, existing)).public);
      const storage = ObjectAttr.restricted | ObjectAttr.decrypt | ObjectAttr.fixedTPM | ObjectAttr.fixedParent;
      if (!hasAttributes(pub, storage) || hasAttributes(pub, ObjectAttr.sign)) {
        throw new TpmError('ERR_TPM_KEY_MISMATCH', `object at ${hex(HANDLE.SRK)} is not a storage key`);
      }
      return existing;
    }
    const { handle } = await esys.createPrimary(c, ESYS_TR.RH_OWNER, srkRsaTemplate());
    try {
      await esys.evictControl(c, handle, HANDLE.SRK);
    } finally {
      await flushQuietly(c, handle);
    }
    return (await this.resource(c, HANDLE.SRK))!;
  }

  /** ESYS handle for a persistent object or NV index; null when nothing is there. Cached per connection. */
  private async resource(c: EsysContext, tpmHandle: number): Promise<EsysTr | null> {
    const cached = this.resources.get(tpmHandle);
    if (cached !== undefined) return cached;
    const tr = await this.optionalResource(c, tpmHandle);
    if (tr !== null) this.resources.set(tpmHandle, tr);
    return tr;
  }

  private async optionalResource(c: EsysContext, tpmHandle: number): Promise<EsysTr | null> {
    try {
      return await esys.trFromTpmPublic(c, tpmHandle);
    } catch (err) {
      if (err instanceof TpmRcError && err.info.layer === 0 && baseTpmRc(err.rc) === TPM_RC.HANDLE) return null;
      throw err;
    }
  }

  /** The long-lived salted HMAC session (salted with the SRK), per connection. */
  private async session(c: EsysContext, attributes = 0): Promise<EsysTr> {
    if (this.signSession === null) {
      const srk = await this.resource(c, HANDLE.SRK);
      this.signSession = await esys.startAuthSession(c, 'hmac', srk ?? ESYS_TR.NONE, TPMA_SESSION.continueSession);
    }
    tss2().esys('TRSess_SetAttributes', c.ctx, this.signSession, attributes | TPMA_SESSION.continueSession, 0xff);
    return this.signSession;
  }

}

async function flushQuietly(c: EsysContext, handle: EsysTr): Promise<void> {
  // A session without continueSession is already gone after its command; that is fine.
  await esys.flushContext(c, handle).catch(() => undefined);
}

function sha256(message: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(message).digest());
}

function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
