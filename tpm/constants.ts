// TPM 2.0 constants used by the binding (TPM2 Part 2 §6: TPM_ALG_ID, TPM_ST, TPM_HT, TPMA_OBJECT).

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDAA: 0x001a,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CFB: 0x0043,
} as const;

/** Digest sizes of the hash algorithms a name may use. */
export const DIGEST_SIZE: Readonly<Record<number, number>> = {
  [TPM_ALG.SHA1]: 20,
  [TPM_ALG.SHA256]: 32,
  [TPM_ALG.SHA384]: 48,
  [TPM_ALG.SHA512]: 64,
};

export const NODE_HASH: Readonly<Record<number, string>> = {
  [TPM_ALG.SHA1]: 'sha1',
  [TPM_ALG.SHA256]: 'sha256',
  [TPM_ALG.SHA384]: 'sha384',
  [TPM_ALG.SHA512]: 'sha512',
};

/** TPMA_OBJECT bits, TPM2 Part 2 §8.3. */
export const ObjectAttr = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

export const TPM_ECC_CURVE = { NIST_P256: 0x0003, NIST_P384: 0x0004, NIST_P521: 0x0005 } as const;

/** Handle ranges, TPM2 Part 2 §7.2 (TPM_HT) and the TCG registry of reserved handles. */
export const HANDLE = {
  PERSISTENT_FIRST: 0x81000000,
  PERSISTENT_LAST: 0x81ffffff,
  /** Owner range for persistent objects: 0x81000000..0x817fffff. */
  OWNER_LAST: 0x817fffff,
  TRANSIENT_FIRST: 0x80000000,
  NV_FIRST: 0x01000000,
  NV_LAST: 0x01ffffff,
  SRK: 0x81000001,
  EK_RSA: 0x81010001,
  EK_ECC: 0x81010002,
  /** The high-range ECC NIST P-384 EK (TCG EK Credential Profile 2.3, template H-4; swtpm makes it). */
  EK_ECC_P384: 0x81010016,
  SEALING_KEY_DEFAULT: 0x81000b70,
  /** Owner NV range (TCG handle registry): 0x01000000..0x013FFFFF. */
  NV_OWNER_FIRST: 0x01000000,
  NV_OWNER_LAST: 0x013fffff,
  /** The seal counter: beside the sealing key (0x81000B70), in the owner NV range. */
  NV_SEAL_COUNTER_DEFAULT: 0x01000b70,
  NV_EK_CERT_RSA: 0x01c00002,
  NV_EK_CERT_ECC: 0x01c0000a,
  NV_EK_CERT_ECC_P384: 0x01c00016,
  /** EK certificate chain (TCG TPM v2.0 Provisioning Guidance §2.2.1.5.2): intermediates, DER, one or more per index. */
  NV_EK_CHAIN_FIRST: 0x01c00100,
  NV_EK_CHAIN_LAST: 0x01c001ff,
} as const;

/** TPMA_NV bits and TPM_NT, TPM2 Part 2 §13.4, §13.2. */
export const TPMA_NV = {
  OWNERWRITE: 0x00000002,
  AUTHWRITE: 0x00000004,
  /** TPM_NT sits in bits 4..7. */
  NT_MASK: 0x000000f0,
  NT_COUNTER: 0x1 << 4,
  OWNERREAD: 0x00020000,
  AUTHREAD: 0x00040000,
  NO_DA: 0x02000000,
  ORDERLY: 0x04000000,
  WRITTEN: 0x20000000,
} as const;

/** TPM_CAP and TPM_PT values, TPM2 Part 2 §6.12, §6.13. */
export const TPM_CAP = { HANDLES: 0x00000001, TPM_PROPERTIES: 0x00000006 } as const;
export const TPM_PT = {
  MANUFACTURER: 0x105,
  VENDOR_STRING_1: 0x106,
  VENDOR_STRING_4: 0x109,
  FIRMWARE_VERSION_1: 0x10b,
  FIRMWARE_VERSION_2: 0x10c,
  NV_BUFFER_MAX: 0x12c,
  PERMANENT: 0x200,
  LOCKOUT_COUNTER: 0x20e,
  MAX_AUTH_FAIL: 0x20f,
} as const;

/** ESYS_TR constants from tss2_esys.h. */
export const ESYS_TR = {
  NONE: 0xfff,
  PASSWORD: 0x0ff,
  RH_OWNER: 0x101,
  RH_NULL: 0x107,
  RH_ENDORSEMENT: 0x10b,
} as const;

export const TPM_SE = { HMAC: 0x00, POLICY: 0x01, TRIAL: 0x03 } as const;
export const TPMA_SESSION = { continueSession: 0x01, decrypt: 0x20, encrypt: 0x40 } as const;
export const TPM_ST = { HASHCHECK: 0x8024 } as const;
export const TPM_RH = { NULL: 0x40000007 } as const;
export const TPM_SU = { CLEAR: 0x0000 } as const;
