// The same provisioned devnet run on the in-process aedes and on a three-member nats-server
// cluster (cluster-run.ts: one node per member, every node qualifying in round 0, blocks of about
// a second): without a kill, the cluster's own cost; with member 1 killed after block 2, what its
// failover costs. Wall time includes starting the broker, the TPMs and activation.
import { clusterRun, type ClusterRun } from '../firmware/devnet/cluster-run.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const NODES = 3;

function msToFinal(run: ClusterRun): number {
  return median(run.result.blocks.map((b) => b.msToFinal));
}

export const run: BenchSuite = async (report, { quick }) => {
  const blocks = quick ? 10 : 30;
  const aedes = await clusterRun({ broker: 'aedes', nodes: NODES, blocks });
  const nats = await clusterRun({ broker: 'nats-cluster', nodes: NODES, blocks });
  const killed = await clusterRun({ broker: 'nats-cluster', nodes: NODES, blocks, kill: { member: 1, afterHeight: 2 } });
  const label = `devnet ${NODES} nodes x ${blocks} blocks`;
  const wall = (r: ClusterRun): number => Math.round(r.wallMs);
  report(withBaseline(`${label}, nats cluster: wall`, wall(nats), 'ms', 'aedes', wall(aedes)));
  report(withBaseline(`${label}, nats cluster, member killed: wall`, wall(killed), 'ms', 'aedes', wall(aedes)));
  report(withBaseline(`${label}, nats cluster: median ms to final`, msToFinal(nats), 'ms', 'aedes', msToFinal(aedes)));
  report(withBaseline(`${label}, nats cluster, member killed: median ms to final`, msToFinal(killed), 'ms', 'aedes', msToFinal(aedes)));
  const attempts = (r: ClusterRun): number => r.result.blocks.reduce((a, b) => a + b.attempts - 1, 0);
  report({ name: `${label}, nats cluster, member killed: redraws`, value: attempts(killed), unit: 'redraws' });
  const sum = (r: ClusterRun): number => r.result.blocks.reduce((a, b) => a + b.msToFinal, 0);
  report(withBaseline(`${label}, nats cluster, member killed: sum of ms to final`, sum(killed), 'ms', 'aedes', sum(aedes)));
  if (!aedes.result.ok || !nats.result.ok || !killed.result.ok) throw new Error('a run did not finalize every block');
};
