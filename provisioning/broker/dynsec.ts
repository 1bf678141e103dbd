// The root node's hand on the broker: mosquitto's dynamic security plugin, driven over its control
// topic (never by editing files). Each command is sent with a correlation id and its answer
// awaited; an error answer is an error here, naming the command. The admin connection pins the
// broker's CA.
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { CodedError } from '../../firmware/core/errors.ts';
import { anyObject, array, object, optional, parseJson, string, type Infer } from '../../firmware/core/json.ts';
import type { BrokerAccounts } from '../server/activation.ts';
import { nodeAcls, nodeRoleName, roleAcls, roleName, type Acl, type BrokerRole } from './roles.ts';

const CONTROL = '$CONTROL/dynamic-security/v1';
const MAX_RESPONSE_BYTES = 1024 * 1024;

// mosquitto's dynamic security plugin answers on $CONTROL/dynamic-security/v1/response (open:
// a newer plugin may add fields).
const dynsecResponses = object({
  responses: array(object({
    command: string({ max: 64 }),
    correlationData: optional(string({ max: 128 })),
    error: optional(string({ max: 1024 })),
    data: optional(anyObject({ maxKeys: 64 })),
  }, { exact: false }), { max: 1024 }),
}, { exact: false });

export class BrokerAdminError extends CodedError<'ERR_BROKER_ADMIN'> {
  override readonly name = 'BrokerAdminError';
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super('ERR_BROKER_ADMIN', message, detail);
  }
}

export interface BrokerAdminOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** The broker's CA (PEM) for mqtts://. */
  readonly ca?: string;
  /** Per command (ms). */
  readonly timeoutMs?: number;
}

type Command = Record<string, unknown> & { readonly command: string };

export class BrokerAdmin {
  readonly #client: MqttClient;
  readonly #timeoutMs: number;
  readonly #pending = new Map<string, { resolve: (r: Readonly<Record<string, unknown>>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(client: MqttClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
    client.on('message', (_topic, payload) => this.#onResponse(payload));
  }

  static async connect(o: BrokerAdminOptions): Promise<BrokerAdmin> {
    const client = await mqtt.connectAsync(o.url, {
      username: o.username, password: o.password, protocolVersion: 5, reconnectPeriod: 1000, clientId: `btn-root-admin-${randomUUID()}`,
      ...(o.ca === undefined ? {} : { ca: o.ca, rejectUnauthorized: true }),
    });
    await client.subscribeAsync(`${CONTROL}/response`, { qos: 1 });
    return new BrokerAdmin(client, o.timeoutMs ?? 10_000);
  }

  /** Creates the role for `prefix` with its ACLs, or adds missing ACLs when it exists. */
  async ensureRole(role: BrokerRole, prefix: string): Promise<string> {
    return this.#ensureRole(roleName(role, prefix), roleAcls(role, prefix));
  }

  /**
   * A secondary node's broker identity: user name = node id, in the secondary role and a role
   * pinning its own topics; an existing one gets the new password (rotation) and is enabled
   * again. One control message (mosquitto runs its commands in order): an activation costs one
   * round trip to the broker, not one per command. Creating what exists already fails harmlessly.
   */
  async upsertNode(nodeId: string, password: string, prefix: string): Promise<void> {
    const own = nodeRoleName(prefix, nodeId);
    const secondary = roleName('secondary', prefix);
    const ensure = (rolename: string, acls: readonly Acl[]): Command[] => {
      const prioritized = acls.map((a) => ({ ...a, priority: a.priority ?? 0 }));
      return [{ command: 'createRole', rolename, acls: prioritized }, ...prioritized.map((acl) => ({ command: 'addRoleACL', rolename, ...acl }))];
    };
    const results = await this.#sendAll([
      ...ensure(own, nodeAcls(prefix, nodeId)),
      ...ensure(secondary, roleAcls('secondary', prefix)),
      { command: 'createClient', username: nodeId, password, roles: [{ rolename: secondary }, { rolename: own }] },
      { command: 'setClientPassword', username: nodeId, password },
      { command: 'addClientRole', username: nodeId, rolename: secondary },
      { command: 'addClientRole', username: nodeId, rolename: own },
      { command: 'enableClient', username: nodeId },
    ]);
    // What must have worked: the password is the new one (setClientPassword) and the client is enabled (enableClient, last).
    for (const r of [results[results.length - 4], results[results.length - 1]]) if (r instanceof BrokerAdminError) throw r;
  }

  async #ensureRole(rolename: string, acls: readonly Acl[]): Promise<string> {
    const prioritized = acls.map((a) => ({ ...a, priority: a.priority ?? 0 }));
    const existing = await this.#send({ command: 'getRole', rolename }).then(() => true, () => false);
    if (!existing) await this.#send({ command: 'createRole', rolename, acls: prioritized });
    else for (const acl of prioritized) await this.#send({ command: 'addRoleACL', rolename, ...acl }).catch(() => undefined);
    return rolename;
  }

  /** A client `username` with `password` in `rolename`; an existing one gets the new password (rotation) and is enabled again. */
  async upsertClient(username: string, password: string, rolename: string): Promise<void> {
    const created = await this.#send({ command: 'createClient', username, password, roles: [{ rolename }] }).then(() => true, () => false);
    if (created) return;
    await this.#send({ command: 'setClientPassword', username, password });
    await this.#send({ command: 'addClientRole', username, rolename }).catch(() => undefined);
    await this.#send({ command: 'enableClient', username });
  }

  /** Disables the client: its connections are closed at once and its password no longer works. */
  async disableClient(username: string): Promise<void> {
    await this.#send({ command: 'disableClient', username });
  }

  async close(): Promise<void> {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new BrokerAdminError('broker admin closed'));
    }
    this.#pending.clear();
    await this.#client.endAsync();
  }

  /** Several commands in one control message; each settles on its own (an error answer is a BrokerAdminError in its place). */
  async #sendAll(cmds: readonly Command[]): Promise<Array<Readonly<Record<string, unknown>> | BrokerAdminError>> {
    const sent = cmds.map((cmd) => ({ ...cmd, correlationData: randomUUID() }));
    const answers = sent.map((cmd) => new Promise<Readonly<Record<string, unknown>>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(cmd.correlationData);
        reject(new BrokerAdminError(`broker did not answer ${cmd.command} within ${this.#timeoutMs} ms`, { command: cmd.command }));
      }, this.#timeoutMs);
      this.#pending.set(cmd.correlationData, { resolve, reject, timer });
    }).catch((err: unknown) => (err instanceof BrokerAdminError ? err : new BrokerAdminError(String(err)))));
    this.#client.publish(CONTROL, JSON.stringify({ commands: sent }), { qos: 1 }, (err) => {
      if (err === undefined || err === null) return;
      for (const cmd of sent) {
        const p = this.#pending.get(cmd.correlationData);
        if (p === undefined) continue;
        clearTimeout(p.timer);
        this.#pending.delete(cmd.correlationData);
        p.reject(new BrokerAdminError(`${cmd.command} not sent: ${err.message}`, { command: cmd.command }));
      }
    });
    return Promise.all(answers);
  }

  #send(cmd: Command): Promise<Record<string, unknown>> {
    const correlationData = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(correlationData);
        reject(new BrokerAdminError(`broker did not answer ${cmd.command} within ${this.#timeoutMs} ms`, { command: cmd.command }));
      }, this.#timeoutMs);
      this.#pending.set(correlationData, { resolve, reject, timer });
      this.#client.publish(CONTROL, JSON.stringify({ commands: [{ ...cmd, correlationData }] }), { qos: 1 }, (err) => {
        if (err === undefined || err === null) return;
        clearTimeout(timer);
        this.#pending.delete(correlationData);
        reject(new BrokerAdminError(`${cmd.command} not sent: ${err.message}`, { command: cmd.command }));
      });
    });
  }

  #onResponse(payload: Buffer): void {
    let body: Infer<typeof dynsecResponses>;
    try {
      // What does not read is dropped: the command it answers times out and says so.
      body = dynsecResponses.read(parseJson(payload, MAX_RESPONSE_BYTES, 'dynamic security response'), 'dynsec');
    } catch {
      return;
    }
    for (const r of body.responses) {
      const p = this.#pending.get(r.correlationData ?? '');
      if (p === undefined) continue;
      this.#pending.delete(r.correlationData!);
      clearTimeout(p.timer);
      if (r.error !== undefined) p.reject(new BrokerAdminError(`${r.command}: ${r.error}`, { command: r.command }));
      else p.resolve(r);
    }
  }
}

/** The registrar's view of the broker (provisioning/server/activation.ts BrokerAccounts) for one network's topic prefix. */
export function brokerAccounts(admin: BrokerAdmin, prefix: string): BrokerAccounts {
  return {
    upsert: (nodeId, password) => admin.upsertNode(nodeId, password, prefix),
    disable: (nodeId) => admin.disableClient(nodeId),
  };
}
