// One provisioned devnet run on a chosen broker, for the cluster test and its benchmark: on a
// three-member nats-server cluster the nodes are spread over the members (node i on member i mod 3,
// the primary on member 0) and one member can be killed (SIGKILL) once a given block is final.
// Every node qualifies in round 0 (sealZeros 0), so every node seals every block it hears of and
// whether a node came back is not left to the lottery; a round (and the vote window) of 1 s makes
// a block take about a second, so a run of K blocks lasts about K seconds whatever the broker.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CLUSTER_FAILOVER_DEADLINE_MS, type DevnetEvent } from '../../../firmware/devnet/devnet.ts';
import { startNatsCluster, type NatsCluster } from '../../../firmware/devnet/nats-cluster.ts';
import { runProvisionedDevnet, type ProvisionedDevnetResult, type ProvisionedEvent } from '../../../firmware/devnet/provisioned-devnet.ts';

/**
 * The same deadline on both brokers, so their times compare: the one a devnet on a nats-server
 * cluster takes to ride out a lost member (devnetSealDeadline).
 */
export const SEAL_DEADLINE_MS = CLUSTER_FAILOVER_DEADLINE_MS;

export interface ClusterRunOptions {
  readonly broker: 'aedes' | 'nats-cluster';
  readonly nodes: number;
  readonly blocks: number;
  /** nats-cluster only: SIGKILL this member once the block at `afterHeight` is final. */
  readonly kill?: { readonly member: number; readonly afterHeight: number };
  /** The run's logs (default silent); with keepDir, the brokers' logs stay in <dir>/broker/mN/nats.log. */
  readonly logger?: Logger;
  readonly keepDir?: boolean;
}

export interface ClusterRun {
  readonly result: ProvisionedDevnetResult;
  /** Every seal the clerks accepted, in order. */
  readonly seals: readonly Extract<DevnetEvent, { type: 'seal' }>[];
  /** Labels (node-1, ...) of the nodes on the killed member. */
  readonly killedNodes: readonly string[];
  /** Whether each member was alive at the end (nats-cluster). */
  readonly alive: readonly boolean[];
  /** From the call to the result, including the cluster's start (not asserted on: reported). */
  readonly wallMs: number;
}

export async function clusterRun(o: ClusterRunOptions): Promise<ClusterRun> {
  const t0 = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'btn-cluster-run-'));
  let cluster: NatsCluster | null = null;
  const seals: Extract<DevnetEvent, { type: 'seal' }>[] = [];
  const pending: { kill: Promise<void> | null } = { kill: null };
  try {
    if (o.broker === 'nats-cluster') cluster = await startNatsCluster({ dir: join(dir, 'broker') });
    const c = cluster;
    const kill = o.kill;
    const onEvent = (e: DevnetEvent | ProvisionedEvent): void => {
      if (e.type === 'seal') seals.push(e);
      if (c !== null && kill !== undefined && e.type === 'final' && e.block.height === kill.afterHeight) pending.kill ??= c.kill(kill.member);
    };
    const result = await runProvisionedDevnet({
      nodes: o.nodes, blocks: o.blocks, handleSignals: false, params: { sealZeros: 0, spinIntervalMs: 1000, sealDeadlineMs: SEAL_DEADLINE_MS }, stateDir: join(dir, 'devnet'), onEvent,
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      ...(c === null ? {} : { broker: { kind: 'nats-cluster', cluster: c } as const }),
    });
    await pending.kill;
    const killedNodes = kill === undefined || c === null ? [] : Array.from({ length: o.nodes }, (_, i) => i + 1).filter((i) => i % c.members.length === kill.member).map((i) => `node-${i}`);
    return { result, seals, killedNodes, alive: c?.members.map((m) => m.alive) ?? [], wallMs: performance.now() - t0 };
  } finally {
    await cluster?.stop();
    if (o.keepDir === true) o.logger?.warn({ dir }, 'cluster run kept');
    else await rm(dir, { recursive: true, force: true });
  }
}
