// In-process MQTT broker for the devnet (docs/components.md): aedes 1.2 behind a node:net server on
// loopback. aedes speaks MQTT 3.1.1 only; the transport falls back to it automatically.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { TransportError } from './errors.ts';

export interface BrokerHandle {
  readonly url: string;
  readonly port: number;
  /** Closes every client connection, the listener and the broker. Idempotent. */
  close(): Promise<void>;
}

export interface BrokerOptions {
  /** 0 or absent: a free port chosen by the OS. */
  readonly port?: number;
  readonly host?: string;
}

export async function startBroker(options: BrokerOptions = {}): Promise<BrokerHandle> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new TransportError('ERR_TRANSPORT_OPTIONS', `port must be 0..65535, got ${port}`);
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    // Nagle off: a retained message sent right after its SUBACK would otherwise wait for the
    // client's delayed ACK (about 40 ms per fetch of a header-first body).
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
  } catch (e) {
    await new Promise<void>((r) => aedes.close(() => r()));
    throw new TransportError('ERR_TRANSPORT_BROKER', `cannot listen on ${host}:${port}: ${(e as Error).message}`, { host, port });
  }
  const actual = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  return {
    url: `mqtt://${host}:${actual}`,
    port: actual,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
        await new Promise<void>((r) => aedes.close(() => r()));
      })();
      return closing;
    },
  };
}
