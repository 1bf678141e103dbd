// btn-node devnet --nodes N --blocks K [--json] [--broker URL|mosquitto|nats-cluster] [--clerks C] [--txs T] [--candidates binary|json] [--delivery full|header-first] [--state-dir DIR] [--network NAME]
//                 [--unprovisioned | --provisioned [--revoke-after H NODE] [--unfiled NODE,..] [--offline NODE,..]]
//
// Provisioned is the default (it adds about 0.5 s for 3 nodes, README): the anti-Sybil path of
// docs/activation.md runs end to end. --unprovisioned (or agents injected by a test) runs the plain
// devnet whose clerks trust the keys of the TPMs it started.
//
// Runs a whole network on this machine (firmware/devnet) until K blocks are final.
// --json: one JSON object per line on stdout, first { params, network, rootPublicKey, manifest }
//   (the root-signed network manifest, whose committee.members are the vote keys), then one per block
//   { height, hash, clerk, final, msToFinal, seals: [{ node, publicKeyPem, round, signature, zeros }], ...,
//   votes: [{ member, signature }], quorum, ... } (each seal signature is RSASSA-PKCS1-v1_5-SHA256 over
//   hash || uint32be(round) under publicKeyPem, zeros = leading zero bits of SHA-256(signature); each
//   vote is Ed25519 by member over the vote bytes of docs/protocol.md); logs go to stderr only.
// Without --json: one line per event, for a person to follow.
import { pino } from 'pino';
import { nodeIdOf } from '../protocol/identity.ts';
import { NETWORK_NAME } from '../protocol/network-manifest.ts';
import type { NetworkParams } from '../protocol/params.ts';
import { realAgentFactory } from './agent-factory.ts';
import { MAX_BLOCKS, MAX_NODES, runDevnet, type AgentFactory, type DevnetEvent } from './devnet.ts';
import type { DevnetBroker } from './devnet-broker.ts';
import { DevnetError } from './errors.ts';
import type { FinalBlockRecord, PrimaryEvent } from './primary.ts';
import type { ProvisionedDevnetOptions, ProvisionedEvent } from './provisioned-devnet.ts';
import { boundedInt, parse, UsageError } from '../core/cli-args.ts';

const USAGE = `usage: btn-node devnet [--nodes N] [--blocks K] [--json] [--broker mqtt://HOST:PORT|mosquitto|nats-cluster] [--clerks C] [--txs T] [--candidates binary|json] [--delivery full|header-first] [--state-dir DIR] [--network NAME]
  --nodes N       secondary nodes, each with its own swtpm TPM (1..${MAX_NODES}, default 3)
  --blocks K      run until K blocks are final (1..${MAX_BLOCKS}, default 5)
  --json          one JSON object per line on stdout: first the params, the network, the root key and
                  the root-signed manifest (committee vote keys, quorum), then one per final block
                  with its signed votes; logs on stderr
  --broker URL    use a running MQTT broker (mosquitto) instead of the in-process one
  --broker mosquitto
                  start a real mosquitto 2 (Debian's package) with TLS only (a throwaway CA),
                  no anonymous clients and dynamic security: the root node creates each node's
                  account at activation and the node connects with the credential its TPM
                  released; a node may publish only its own status and seals
  --broker nats-cluster
                  start a three-member nats-server cluster (Debian's package; MQTT 3.1.1 on
                  JetStream, routes between the members): the primary on member 0, node i on
                  member i mod 3, each falling back to the other members if its own dies
  --clerks C      clerks in the primary's committee (1..64, default 3); each votes with its own key
  --network NAME  the network's name in its manifest and votes (default devnet)
  --txs T         transactions per block (0..10000, default 4)
  --candidates E  how the primary sends candidates: binary (default, the compact frame) or json
  --delivery D    the manifest's candidateDelivery: full (default; every node gets the whole
                  candidate) or header-first (every node gets the header, the nodes whose ticket
                  qualifies fetch the body; binary frames)
  --state-dir DIR keep TPM state and journals in DIR (default: a temporary directory, removed)
  --provisioned   (the default) the anti-Sybil path: a root node (registrar, SQLite) files every
                  TPM from the factory station in one signed batch, each agent activates itself
                  (ActivateCredential) and seals only when active; clerks accept a seal only
                  under its root-signed registration, not revoked
  --unprovisioned agents count themselves active; clerks trust the keys of the TPMs started here.
                  NOT SAFE with anyone else on the broker: without a root key a node cannot tell
                  a forged seal from a real one, so one forged round-0 seal per candidate stops
                  every node spinning and halts the network (a warning is printed at start)
  --revoke-after H NODE   the root revokes NODE (node-1, node-2, ...) once block H is final;
                  its later seals are refused and it stops sealing
  --unfiled NODE,...      never enrolled at the factory: never activates, never seals
  --offline NODE,...      filed, but cannot reach the root: never activated, never seals
  LOG_LEVEL=debug|info|warn  pino logs on stderr (default warn)`;

const OPTIONS = {
  nodes: { type: 'string' },
  blocks: { type: 'string' },
  json: { type: 'boolean' },
  broker: { type: 'string' },
  clerks: { type: 'string' },
  network: { type: 'string' },
  txs: { type: 'string' },
  candidates: { type: 'string' },
  delivery: { type: 'string' },
  'state-dir': { type: 'string' },
  provisioned: { type: 'boolean' },
  unprovisioned: { type: 'boolean' },
  'revoke-after': { type: 'string' },
  unfiled: { type: 'string' },
  offline: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface DevnetCommandDeps {
  /** Agents to run (tests); default: the real agent from firmware/agent. */
  readonly agentFactory?: AgentFactory;
  readonly out?: (line: string) => void;
}

export async function devnetCommand(argv: readonly string[], deps: DevnetCommandDeps = {}): Promise<number> {
  const values = parse(joinRevokeAfter(argv), OPTIONS, USAGE);
  const out = deps.out ?? ((line: string) => void process.stdout.write(line + '\n'));
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const nodes = boundedInt(values.nodes, 'nodes', { min: 1, max: MAX_NODES, fallback: 3 }, USAGE);
  const blocks = boundedInt(values.blocks, 'blocks', { min: 1, max: MAX_BLOCKS, fallback: 5 }, USAGE);
  const clerks = boundedInt(values.clerks, 'clerks', { min: 1, max: 64, fallback: 3 }, USAGE);
  const txPerBlock = boundedInt(values.txs, 'txs', { min: 0, max: 10_000, fallback: 4 }, USAGE);
  const candidates = values.candidates ?? 'binary';
  if (candidates !== 'binary' && candidates !== 'json') throw new UsageError(`--candidates must be binary or json, got ${JSON.stringify(candidates.slice(0, 40))}\n${USAGE}`);
  const delivery = values.delivery ?? 'full';
  if (delivery !== 'full' && delivery !== 'header-first') throw new UsageError(`--delivery must be full or header-first, got ${JSON.stringify(delivery.slice(0, 40))}\n${USAGE}`);
  const params = delivery === 'full' ? {} : { params: { candidateDelivery: delivery } satisfies Partial<NetworkParams> };
  const secureBroker = values.broker === 'mosquitto';
  const natsCluster = values.broker === 'nats-cluster';
  const broker = secureBroker || natsCluster ? undefined : values.broker;
  if (broker !== undefined && !/^(mqtts?|tcp|wss?):\/\/[^\s]+$/.test(broker)) throw new UsageError(`--broker must be an mqtt:// URL, mosquitto or nats-cluster, got ${JSON.stringify(broker.slice(0, 80))}\n${USAGE}`);
  const json = values.json ?? false;
  const network = values.network;
  if (network !== undefined) {
    try {
      NETWORK_NAME.read(network, '--network');
    } catch (err) {
      throw new UsageError(`${(err as Error).message}, got ${JSON.stringify(network.slice(0, 80))}\n${USAGE}`);
    }
  }
  if (values.provisioned && values.unprovisioned) throw new UsageError(`--provisioned and --unprovisioned exclude each other\n${USAGE}`);
  if (values.provisioned && deps.agentFactory !== undefined) throw new UsageError('--provisioned runs the real agents; it cannot take injected agents');
  const provisioned = values.provisioned ?? (!values.unprovisioned && deps.agentFactory === undefined);
  const extra = provisionedOptions(values, provisioned, nodes, blocks);
  const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'warn', base: { cmd: 'devnet' } }, pino.destination({ dest: 2, sync: true }));
  const show = json ? jsonPrinter(out) : humanPrinter(out, nodes, blocks);
  try {
    if (provisioned) {
      // Loaded only here: the registrar and its SQLite store are host tooling, not agent code.
      const { runProvisionedDevnet } = await import('./provisioned-devnet.ts');
      const result = await runProvisionedDevnet({
        nodes, blocks, clerks, txPerBlock, candidateEncoding: candidates, logger, onEvent: show, ...extra, ...params,
        ...(broker === undefined ? {} : { brokerUrl: broker }), ...(network === undefined ? {} : { network }), secureBroker,
        ...(natsCluster ? { broker: { kind: 'nats-cluster' } as const } : {}),
        ...(values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }),
      });
      if (!json) {
        summary(out, result, blocks);
        const active = result.provisioned.filter((p) => p.msToActive !== null);
        out(`activation: ${active.length}/${result.provisioned.length} node(s) active in ${result.msToActivateAll} ms in all; end states ${result.provisioned.map((p) => `${p.node} ${p.finalState}`).join(', ')}`);
        const rej = Object.entries(result.registrations.rejected).filter(([, n]) => n > 0).map(([c, n]) => `${c} ${n}`).join(', ');
        out(`registrations: ${result.registrations.accepted} seal key(s) from root-signed registrations, refused: ${rej || 'none'}; revocation list v${result.registrations.revocationVersion}`);
      }
      return result.ok ? 0 : 1;
    }
    const result = await runDevnet({
      nodes, blocks, clerks, txPerBlock, candidateEncoding: candidates, logger, onEvent: show, ...params,
      agentFactory: deps.agentFactory ?? realAgentFactory,
      ...(broker === undefined ? {} : { brokerUrl: broker }), ...(network === undefined ? {} : { network }), secureBroker,
      ...(natsCluster ? { broker: { kind: 'nats-cluster' } as const } : {}),
      ...(values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }),
    });
    if (!json) summary(out, result, blocks);
    return result.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof DevnetError && err.code === 'ERR_DEVNET_ABORTED') {
      process.stderr.write('btn-node devnet: stopped, everything cleaned up\n');
      return 130;
    }
    throw err;
  }
}

function summary(out: (line: string) => void, result: { blocks: readonly FinalBlockRecord[]; stats: { sealsAccepted: number; redraws: number } }, blocks: number): void {
  const times = result.blocks.filter((b) => b.final).map((b) => b.msToFinal);
  const finals = times.length;
  out(`done: ${finals}/${blocks} blocks final` + (finals > 0 ? `, ms to final median ${median(times)} (min ${Math.min(...times)}, max ${Math.max(...times)}), ${result.stats.sealsAccepted} seals accepted, ${result.stats.redraws} redraws` : ''));
}

/** `--revoke-after H NODE` (two words) becomes `--revoke-after H:NODE` for the strict parser. */
function joinRevokeAfter(argv: readonly string[]): string[] {
  const out = [...argv];
  const i = out.indexOf('--revoke-after');
  if (i >= 0 && out[i + 1] !== undefined && out[i + 2] !== undefined && !out[i + 1]!.includes(':') && !out[i + 2]!.startsWith('-')) {
    out.splice(i + 1, 2, `${out[i + 1]}:${out[i + 2]}`);
  }
  return out;
}

function provisionedOptions(values: { 'revoke-after'?: string | undefined; unfiled?: string | undefined; offline?: string | undefined }, provisioned: boolean, nodes: number, blocks: number): Partial<ProvisionedDevnetOptions> {
  const given = (['revoke-after', 'unfiled', 'offline'] as const).filter((k) => values[k] !== undefined);
  if (!provisioned) {
    if (given.length > 0) throw new UsageError(`--${given[0]} needs a provisioned devnet (leave out --unprovisioned)\n${USAGE}`);
    return {};
  }
  const label = (v: string, flag: string): string => {
    const m = /^node-(\d{1,3})$/.exec(v);
    if (m === null || Number(m[1]) < 1 || Number(m[1]) > nodes) throw new UsageError(`--${flag}: "${v.slice(0, 40)}" is not a node of this run (node-1..node-${nodes})\n${USAGE}`);
    return v;
  };
  const list = (v: string | undefined, flag: string): string[] | undefined => (v === undefined ? undefined : v.split(',').map((x) => label(x.trim(), flag)));
  const result: { -readonly [K in keyof ProvisionedDevnetOptions]?: ProvisionedDevnetOptions[K] } = {};
  const unfiled = list(values.unfiled, 'unfiled');
  const offline = list(values.offline, 'offline');
  if (unfiled !== undefined) result.unfiled = unfiled;
  if (offline !== undefined) result.offline = offline;
  const r = values['revoke-after'];
  if (r !== undefined) {
    const m = /^(\d{1,5}):(.+)$/.exec(r);
    if (m === null) throw new UsageError(`--revoke-after must be "H NODE" (e.g. --revoke-after 2 node-2), got ${JSON.stringify(r.slice(0, 40))}\n${USAGE}`);
    const height = Number(m[1]);
    if (height < 1 || height >= blocks) throw new UsageError(`--revoke-after: height must be in 1..${blocks - 1} (blocks must go on after it), got ${height}\n${USAGE}`);
    result.revokeAfter = { height, node: label(m[2]!, 'revoke-after') };
  }
  return result;
}

/** The documented first line: the params, and what an outside checker verifies the votes with. */
export function startLine(params: NetworkParams, m: Extract<PrimaryEvent, { type: 'manifest' }>): Record<string, unknown> {
  return { params, network: m.network, rootPublicKey: m.rootPublicKey, manifest: m.manifest };
}

/** The documented line format: the start line first, then one object per block (key order fixed). */
export function blockLine(b: FinalBlockRecord): Record<string, unknown> {
  return {
    height: b.height,
    hash: b.hash,
    clerk: b.clerk,
    final: b.final,
    msToFinal: b.msToFinal,
    // A provisioned devnet adds each seal's root-signed registration (extra field).
    seals: b.seals.map((s) => ({ node: s.node, publicKeyPem: s.publicKeyPem, round: s.round, signature: s.signature, zeros: s.zeros, ...('registration' in s ? { registration: s.registration } : {}) })),
    previousHash: b.previousHash,
    timestamp: b.timestamp,
    drawRound: b.drawRound,
    votes: b.votes.map((v) => ({ member: v.member, signature: v.signature })),
    quorum: b.quorum,
    attempts: b.attempts,
    txCount: b.txCount,
  };
}

function jsonPrinter(out: (line: string) => void): (e: DevnetEvent | ProvisionedEvent) => void {
  let params: NetworkParams | null = null;
  return (e) => {
    if (e.type === 'params') params = e.params;
    else if (e.type === 'manifest' && params !== null) out(JSON.stringify(startLine(params, e)));
    else if (e.type === 'final') out(JSON.stringify(blockLine(e.block)));
  };
}

const BROKER_KINDS: Record<DevnetBroker['kind'], string> = {
  'in-process': 'in-process aedes, MQTT 3.1.1',
  url: 'external',
  mosquitto: 'mosquitto 2, TLS, dynamic security: an account per node, released through its TPM at activation',
  'nats-cluster': 'nats-server cluster of 3 members, MQTT 3.1.1 on JetStream; node i on member i mod 3',
};

function humanPrinter(out: (line: string) => void, nodes: number, blocks: number): (e: DevnetEvent | ProvisionedEvent) => void {
  const short = (hex: string): string => hex.slice(0, 12);
  // Provisioned nodes seal under their root-assigned node id (SHA-256 of the key): show the label.
  const labels = new Map<string, string>();
  const lastActivation = new Map<string, string>();
  const name = (id: string | undefined): string => (id === undefined ? '' : labels.get(id) ?? id);
  return (e) => {
    switch (e.type) {
      case 'root-key':
        out(`root key: ${short(e.rootPublicKey)}… (Ed25519; verifies every registration, revocation list and the network manifest)`);
        break;
      case 'root':
        out(`root node: registrar at ${e.url} (SQLite) up in ${e.msToStart} ms`);
        break;
      case 'filed':
        out(`factory: ${e.nodes.join(', ')} enrolled, batch ${short(e.batchId)} signed and uploaded: ${e.filed} filed, ${e.rejected} refused (${e.ms} ms)`);
        break;
      case 'activation': {
        // A node retrying activation changes only "retrying in N s": one line per new reason.
        const key = `${e.state} ${(e.reason ?? '').replace(/; retrying in \d+ s$/, '')}`;
        if (lastActivation.get(e.node) === key) break;
        lastActivation.set(e.node, key);
        out(`${e.node}: ${e.state}${e.reason === undefined ? '' : ` (${e.reason})`} after ${e.msSinceStart} ms`);
        break;
      }
      case 'revoked':
        out(`REVOKED ${e.node} (${short(e.nodeId)}) after block #${e.afterHeight}: revocation list v${e.version} (${e.ms} ms)`);
        break;
      case 'params':
        out(`devnet: ${nodes} node(s) with a swtpm TPM each, until ${blocks} block(s) are final`);
        out(`params: seal needs >= ${e.params.sealZeros} zero bits, clerk draw >= ${e.params.clerkZeros}, one round per ${e.params.spinIntervalMs} ms, seal deadline ${e.params.sealDeadlineMs} ms`);
        break;
      case 'broker':
        out(`broker: ${e.members?.join(' ') ?? e.url} (${BROKER_KINDS[e.kind]})`);
        out(`state: ${e.stateDir}${e.removeAtEnd ? ' (removed at the end)' : ''}`);
        break;
      case 'node':
        labels.set(nodeIdOf(e.publicKeyPem), e.nodeId);
        out(`${e.nodeId}: TPM ${e.tcti} up in ${e.msToStart} ms, sealing key ${keyLabel(e.publicKeyPem)}`);
        break;
      case 'manifest':
        out(`manifest: network ${e.network} v${e.manifest.version} signed by root ${short(e.rootPublicKey)}…; committee of ${e.manifest.committee.members.length} vote key(s), quorum ${e.manifest.committee.quorum}`);
        break;
      case 'ready':
        out(`ready: clerks ${e.clerks.map(short).join(', ')}; ${e.quorum} of ${e.clerks.length} votes make a block final`);
        break;
      case 'draw':
        out(`#${e.height} clerk ${short(e.clerk)} drawn in round ${e.round} (${e.zeros} zero bits)${e.attempt > 1 ? `, attempt ${e.attempt}` : ''}`);
        break;
      case 'candidate':
        out(`#${e.height} candidate ${short(e.hash)} with ${e.txCount} transaction(s) sent to the nodes`);
        break;
      case 'seal':
        out(`#${e.height} seal from ${name(e.node)}: round ${e.round}, ${e.zeros} zero bits, ${e.msAfterCandidate} ms after the candidate`);
        break;
      case 'seal-rejected':
        // Seals for a block that is already final are normal (other nodes still spinning).
        if (e.code !== 'no-candidate' && e.code !== 'wrong-block') out(`   seal${e.node === undefined ? '' : ` from ${name(e.node)}`} rejected (${e.code}): ${e.message}`);
        break;
      case 'vote':
        out(`#${e.height} committee: ${e.votes} signed vote(s) for ${short(e.hash)}, ${e.quorum} needed`);
        break;
      case 'vote-rejected':
        out(`   vote of ${short(e.member)} for ${short(e.hash)} does not verify: not counted`);
        break;
      case 'agent':
        out(`   ${e.nodeId} ${e.kind === 'error' ? 'error' : 'rejected'}${e.height === undefined ? '' : ` #${e.height}`} (${e.code}): ${e.message}`);
        break;
      case 'redraw':
        out(`#${e.height} redraw: ${e.reason}`);
        break;
      case 'final':
        if (e.block.final) out(`#${e.block.height} FINAL ${short(e.block.hash)} after ${e.block.msToFinal} ms, sealed by ${e.block.seals.map((s) => `${name(s.node)} (round ${s.round}, ${s.zeros} bits)`).join(', ')}`);
        else out(`#${e.block.height} NOT final after ${e.block.attempts} attempts (${e.block.msToFinal} ms)`);
        break;
    }
  };
}

function keyLabel(pem: string): string {
  return `fingerprint ${nodeIdOf(pem).slice(0, 16)}`;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
}
