// The devnet's default agents: the real secondary-node agent (firmware/agent) with its own seal
// journal and an always-active gate (firmware/sealing; until activation exists, the devnet marks
// its own nodes active, issue 3).
import { createAgent, type RejectedEvent } from '../agent/index.ts';
import { alwaysActive, openSealJournal } from '../sealing/index.ts';
import type { AgentContext, AgentFactory } from './devnet.ts';

export const realAgentFactory: AgentFactory = async (ctx: AgentContext) => {
  const journal = await openSealJournal(ctx.journalPath, { logger: ctx.logger });
  try {
    const agent = createAgent({
      nodeId: ctx.nodeId,
      tpm: ctx.tpm,
      sealingHandle: ctx.sealingKey.handle,
      transport: ctx.transport,
      topics: ctx.topics,
      journal,
      gate: alwaysActive(ctx.nodeId),
      primaries: ctx.primaries,
      genesis: ctx.genesis,
      params: ctx.params,
      logger: ctx.logger,
      stateDir: ctx.stateDir,
    });
    agent.on('rejected', (e: RejectedEvent) => ctx.report({ kind: 'rejected', code: e.code, message: e.message, ...(e.height === undefined ? {} : { height: e.height }) }));
    agent.on('error', (err: Error & { code?: string }) => ctx.report({ kind: 'error', code: err.code ?? 'ERR_AGENT', message: err.message }));
    return {
      start: () => agent.start(),
      stop: async () => {
        try {
          await agent.stop();
        } finally {
          await journal.close();
        }
      },
    };
  } catch (err) {
    await journal.close();
    throw err;
  }
};
