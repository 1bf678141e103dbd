// node-tpm2: the project's TPM 2.0 binding over tpm2-tss (ESYS) through an FFI.
export { openTpm, Tpm, LOTTERY_MESSAGE_BYTES, type LotteryKey, type OpenTpmOptions, type SealingKeyInfo, type TpmInfo } from './tpm.ts';
export { TpmConnection, type ConnectionOptions } from './connection.ts';
export { TpmError, TpmArgumentError, TpmRcError, TpmWireError, type TpmErrorCode } from './errors.ts';
export { describeRc, type RcInfo } from './rc.ts';
export { parseTcti, resolveTcti, DEFAULT_TCTI } from './tcti.ts';
export { parseHandle, checkSealingHandle, checkCounterIndex, hex as handleHex } from './handles.ts';
export { SEAL_COUNTER_ATTRIBUTES, type NvCounterInfo } from './nv-counter.ts';
export { HANDLE, ObjectAttr, TPM_ALG, TPMA_NV } from './constants.ts';
export {
  parsePublic, parsePublicArea, objectName, publicKeyPem, publicKeyObject, publicKeySpki, hasAttributes, toTpm2bPublic,
  type TpmPublic,
} from './public-area.ts';
export { SEALING_KEY_REQUIRED, SEALING_KEY_ATTRIBUTES, EK_RSA_ATTRIBUTES, EK_POLICY_SHA256 } from './templates.ts';
export { EK_REQUIRED, ekProblem, sealingKeyProblem, type KeyPublicFacts } from './key-rules.ts';
export { WireReader, WireWriter } from './wire.ts';
export { sealingKeySelfTest, SELFTEST_DOMAIN, type SelfTestResult } from './self-test.ts';
