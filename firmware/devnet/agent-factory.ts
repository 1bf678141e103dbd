// The devnet's default agents: the real secondary-node agent (firmware/agent) with its seal
// journal and an always-active gate (firmware/sealing; until activation exists, the devnet marks
// its own nodes active, issue 3).
//
// Loaded lazily by path so that the devnet still builds while the agent is being written; the
// agreed interface is createAgent({ nodeId, tpm, sealingHandle, transport, topics, journal, gate,
// primaries, genesis, params, logger }) -> { start(), stop(), status() }.
import { DevnetError } from './errors.ts';
import type { AgentContext, AgentFactory, DevnetAgent } from './devnet.ts';

interface AgentModule {
  createAgent(options: Record<string, unknown>): DevnetAgent & { status?(): unknown };
}
interface SealingModule {
  openSealJournal(path: string): unknown;
  alwaysActive(nodeId: string): unknown;
}

async function load<T>(relative: string, names: readonly string[]): Promise<T> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL(relative, import.meta.url).href)) as Record<string, unknown>;
  } catch (cause) {
    throw new DevnetError('ERR_DEVNET_AGENT_MISSING', `cannot load ${relative} (the secondary-node agent): ${(cause as Error).message}`, { module: relative }, { cause });
  }
  for (const name of names) {
    if (typeof mod[name] !== 'function') throw new DevnetError('ERR_DEVNET_AGENT_MISSING', `${relative} does not export ${name}()`, { module: relative });
  }
  return mod as T;
}

export const realAgentFactory: AgentFactory = async (ctx: AgentContext) => {
  const [agents, sealing] = await Promise.all([
    load<AgentModule>('../agent/index.ts', ['createAgent']),
    load<SealingModule>('../sealing/index.ts', ['openSealJournal', 'alwaysActive']),
  ]);
  const journal = await sealing.openSealJournal(ctx.journalPath);
  const agent = agents.createAgent({
    nodeId: ctx.nodeId,
    tpm: ctx.tpm,
    sealingHandle: ctx.sealingKey.handle,
    transport: ctx.transport,
    topics: ctx.topics,
    journal,
    gate: sealing.alwaysActive(ctx.nodeId),
    primaries: ctx.primaries,
    genesis: ctx.genesis,
    params: ctx.params,
    logger: ctx.logger,
  });
  return {
    start: () => agent.start(),
    stop: async () => {
      await agent.stop();
      const j = journal as { close?: () => unknown };
      if (typeof j?.close === 'function') await j.close();
    },
  };
};
