// Checks the agent's options at the boundary (createAgent), naming the wrong field.
import type { AgentOptions } from './agent.ts';
import { AgentError } from './errors.ts';

export function checkOptions(o: AgentOptions): void {
  const need = (ok: boolean, field: string, what: string): void => {
    if (!ok) throw new AgentError('ERR_AGENT_OPTIONS', `createAgent: ${field} ${what}`, { field });
  };
  need(o !== null && typeof o === 'object', 'options', 'must be an object');
  need(typeof o.nodeId === 'string' && /^[0-9a-zA-Z_-]{1,128}$/.test(o.nodeId), 'nodeId', 'must be 1..128 characters of [0-9a-zA-Z_-]');
  need(typeof o.tpm?.sign === 'function' && typeof o.tpm?.info === 'function', 'tpm', 'must be an opened Tpm');
  need(typeof o.transport?.subscribe === 'function' && typeof o.transport?.publishSeal === 'function', 'transport', 'must be an MqttTransport');
  need(typeof o.topics?.seals === 'function', 'topics', 'must come from topicsFor(prefix)');
  need(typeof o.journal?.checkAndRecord === 'function', 'journal', 'must be an open seal journal');
  need(typeof o.gate?.current === 'function', 'gate', 'must be a SealGate');
  need(typeof o.primaries?.get === 'function', 'primaries', 'must be a PrimaryKeySet');
  need(o.genesis?.hash instanceof Uint8Array && o.genesis.hash.length === 32 && Number.isSafeInteger(o.genesis.height), 'genesis', 'must be a chain tip { hash (32 bytes), height }');
  need(typeof o.params?.sealZeros === 'number', 'params', 'must be NetworkParams');
  need(o.sealingHandle === undefined || Number.isInteger(o.sealingHandle), 'sealingHandle', 'must be a TPM handle number');
}
