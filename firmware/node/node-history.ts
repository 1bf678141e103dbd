// The node's history (firmware/status/history.ts) fed by its agent: what it did with each
// candidate (the agent's spin, refusal, seal, rival-seal and final events: the rules stay in the
// agent and the engine), and once a minute the system facts the telemetry sampler reads
// (temperature, memory, disk) with the agent's uptime. Saved to <stateDir>/history.json at most
// every few minutes and at stop, never per block (SD-card wear).
import type { Logger } from 'pino';
import type { RejectedEvent, RivalSealEvent, SealEvent, SecondaryAgent, SpinEvent } from '../agent/index.ts';
import { toHex } from '../core/bytes.ts';
import type { FinalMessage } from '../protocol/final-message.ts';
import { History, outcomeWords, readHistoryFile, writeHistoryFile, type SystemSample } from '../status/index.ts';
import { createSampler } from '../telemetry/index.ts';

export const HISTORY_SAVE_MS = 5 * 60_000;
export const HISTORY_SAMPLE_MS = 60_000;

export interface NodeHistoryOptions {
  readonly stateDir: string;
  readonly agent: SecondaryAgent;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Least time between two saves, ms (default 5 min). */
  readonly saveEveryMs?: number;
  /** How often the system facts are sampled, ms (default 1 min). */
  readonly sampleEveryMs?: number;
  /** Reads temperature, memory and disk (default: the telemetry sampler on the state directory). */
  readonly sample?: () => Promise<Omit<SystemSample, 'uptimeS'>>;
}

export interface NodeHistory {
  readonly history: History;
  /** Starts sampling and saving. */
  start(): void;
  /** Stops both and saves what changed. */
  stop(): Promise<void>;
  /** Saves now if anything changed. */
  save(): Promise<void>;
  /** Saves done, and their bytes in all (disk wear). */
  stats(): { readonly saves: number; readonly bytes: number };
}

export async function openNodeHistory(o: NodeHistoryOptions): Promise<NodeHistory> {
  const now = o.now ?? Date.now;
  const log = o.logger.child({ component: 'history' });
  const read = await readHistoryFile(o.stateDir);
  if (read.problem !== null) log.warn(read.problem);
  const history = new History(now, read.data, read.problem);
  const agent = o.agent;
  const sampler = o.sample ?? samplerOf(o.stateDir, agent.nodeId);

  const onSpin = (e: SpinEvent): void => {
    const out = e.outcome;
    // A journal refusal also comes as a 'rejected' event: recorded there, once.
    if (out.outcome === 'refused') return;
    history.rounds(out.rounds, e.signMs);
    history.block({
      height: e.height, hash: e.hash, at: now(), verdict: out.outcome === 'sealed' ? 'sealed' : 'not-sealed', code: out.outcome,
      reason: outcomeWords(out, e.zerosNeeded), rounds: out.rounds, bestZeros: out.outcome === 'sealed' ? out.zeros : e.bestZeros, zerosNeeded: e.zerosNeeded,
      sealedBy: out.outcome === 'sealed' ? { nodeId: agent.nodeId, round: out.round } : null,
    });
  };
  const onRejected = (e: RejectedEvent): void => history.block({
    height: e.height ?? null, hash: '', at: now(), verdict: 'refused', code: e.code.slice(0, 64), reason: e.message, rounds: 0, bestZeros: null, zerosNeeded: null, sealedBy: null,
  });
  const onSeal = (e: SealEvent): void => { if (!e.reused) history.sealed(); };
  const onRival = (e: RivalSealEvent): void => history.sealSeen(e.hash, e.nodeId, e.round);
  const onFinal = (f: FinalMessage): void => history.final(toHex(f.hash), f.sealedBy);
  agent.on('spin', onSpin);
  agent.on('rejected', onRejected);
  agent.on('seal', onSeal);
  agent.on('rival-seal', onRival);
  agent.on('final', onFinal);

  let saves = 0;
  let bytes = 0;
  let lastProblem = '';
  let saving: Promise<void> = Promise.resolve();
  const saveNow = async (): Promise<void> => {
    if (history.changes === 0) return;
    const data = history.data();
    history.markSaved();
    try {
      bytes += await writeHistoryFile(o.stateDir, data, now());
      saves++;
      lastProblem = '';
    } catch (err) {
      // said once per different failure; the next round tries again (a full disk may clear)
      const message = (err as Error).message;
      if (message !== lastProblem) log.warn({ err: message }, 'history not saved');
      lastProblem = message;
    }
  };
  const save = (): Promise<void> => (saving = saving.then(saveNow));
  const sampleNow = async (): Promise<void> => {
    try {
      const s = await sampler();
      history.sample({ ...s, uptimeS: Math.floor(agent.status().uptimeMs / 1000) });
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'system sample failed');
    }
  };

  const timers: NodeJS.Timeout[] = [];
  let sampling: Promise<void> = Promise.resolve();
  return {
    history,
    start() {
      if (timers.length > 0) return;
      sampling = sampleNow();
      timers.push(setInterval(() => { sampling = sampleNow(); }, o.sampleEveryMs ?? HISTORY_SAMPLE_MS));
      timers.push(setInterval(() => void save(), o.saveEveryMs ?? HISTORY_SAVE_MS));
      for (const t of timers) t.unref();
    },
    async stop() {
      for (const t of timers.splice(0)) clearInterval(t);
      agent.off('spin', onSpin);
      agent.off('rejected', onRejected);
      agent.off('seal', onSeal);
      agent.off('rival-seal', onRival);
      agent.off('final', onFinal);
      await sampling;
      await save();
    },
    save,
    stats: () => ({ saves, bytes }),
  };
}

function samplerOf(stateDir: string, nodeId: string): () => Promise<Omit<SystemSample, 'uptimeS'>> {
  // No CPU busy figure is kept: a short first window is enough.
  const sampler = createSampler({ nodeId, diskPath: stateDir, cpuWindowMs: 1 });
  return async () => {
    const s = await sampler.sample();
    return { tempC: s.temperatureC, memPct: s.memory?.usedPercent ?? null, diskPct: s.disk?.usedPercent ?? null };
  };
}
