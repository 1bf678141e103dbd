// The devnet's agents: real secondary nodes built by createNode, the same assembly as
// `btn-node run`. An unprovisioned devnet has no root node, so its nodes are always active and
// count any qualifying seal as competition (anyone on its broker can stop it; see README).
import { createNode } from '../node/index.ts';
import type { AgentContext, AgentFactory } from './devnet.ts';

export const realAgentFactory: AgentFactory = async (ctx: AgentContext) => {
  const node = await createNode({
    nodeId: ctx.nodeId, tpm: ctx.tpm, sealingKey: ctx.sealingKey, transport: ctx.transport, journalPath: ctx.journalPath,
    stateDir: ctx.stateDir, trust: { kind: 'unprovisioned' }, network: ctx.network, logger: ctx.logger,
  });
  node.agent.on('rejected', (e) => ctx.report({ kind: 'rejected', code: e.code, message: e.message, ...(e.height === undefined ? {} : { height: e.height }) }));
  node.agent.on('error', (err: Error & { code?: string }) => ctx.report({ kind: 'error', code: err.code ?? 'ERR_AGENT', message: err.message }));
  return { start: () => node.start(), stop: () => node.stop() };
};
