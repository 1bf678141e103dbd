// A BtnCmd link over TCP (the whitepaper's direct link to a primary node): frames in, frames out,
// with backpressure both ways and an idle timeout.
// - Inbound: frames wait in a bounded queue; when it is full the socket is paused, so a fast
//   sender fills its own TCP window instead of our memory.
// - Outbound: send() resolves once the kernel took the bytes (waits for 'drain' when write()
//   says so); past maxPendingWriteBytes it rejects instead of buffering without bound.
// - Garbage that loses the framing (FrameError thrown by the decoder) closes the socket.
import { EventEmitter } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { encodeFrame, FrameDecoder, BtnCmdFlag, type BtnCmdFlagValue, type BtnCmdFrame } from './btncmd-frame.ts';
import { FrameError, TransportError } from './errors.ts';

export interface BtnCmdLinkOptions {
  readonly maxFrameBytes?: number;
  /** Close the link after this long without traffic either way; 0 disables. Default 60 s. */
  readonly idleTimeoutMs?: number;
  /** Bytes allowed to wait in the socket's write buffer before send() rejects. Default 4 MiB. */
  readonly maxPendingWriteBytes?: number;
  /** Frames held for the consumer before the socket is paused. Default 64. */
  readonly maxQueuedFrames?: number;
}

export class BtnCmdLink extends EventEmitter {
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #maxFrameBytes: number | undefined;
  readonly #maxPending: number;
  readonly #maxQueued: number;
  readonly #queue: BtnCmdFrame[] = [];
  #waiter: (() => void) | null = null;
  #ended = false;
  #error: TransportError | null = null;
  #paused = false;
  /** Resolves when the socket is closed, with the error that closed it (null = clean end). */
  readonly closed: Promise<TransportError | null>;

  constructor(socket: Socket, options: BtnCmdLinkOptions = {}) {
    super();
    this.#socket = socket;
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#decoder = new FrameDecoder(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes });
    this.#maxPending = options.maxPendingWriteBytes ?? 4 * 1024 * 1024;
    this.#maxQueued = options.maxQueuedFrames ?? 64;
    const idle = options.idleTimeoutMs ?? 60_000;
    if (idle > 0) socket.setTimeout(idle, () => this.#fail(new TransportError('ERR_TRANSPORT_LINK', `link idle for ${idle} ms`, { reason: 'idle' })));
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => { this.#ended = true; this.#wake(); resolve(this.#error); }));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => {
      try {
        this.#decoder.end();
      } catch (e) {
        this.#error ??= e as FrameError;
      }
      socket.end();
    });
    socket.on('error', (e) => { this.#error ??= new TransportError('ERR_TRANSPORT_LINK', e.message, { reason: 'socket' }); });
  }

  get remote(): string {
    return `${this.#socket.remoteAddress}:${this.#socket.remotePort}`;
  }

  /** Frames decoded but not yet taken by the consumer. */
  get queuedFrames(): number {
    return this.#queue.length;
  }

  /** Sends one frame; resolves once the kernel accepted it. */
  async send(name: string, body: Record<string, unknown>, flag: BtnCmdFlagValue = BtnCmdFlag.command): Promise<void> {
    if (this.#ended || this.#socket.destroyed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'BtnCmd link is closed');
    const bytes = encodeFrame(name, body, { flag, ...(this.#maxFrameBytes === undefined ? {} : { maxFrameBytes: this.#maxFrameBytes }) });
    if (this.#socket.writableLength + bytes.length > this.#maxPending) {
      throw new TransportError('ERR_TRANSPORT_LINK', `peer is not reading: ${this.#socket.writableLength} bytes pending`, { reason: 'backpressure' });
    }
    await new Promise<void>((resolve, reject) => {
      const ok = this.#socket.write(bytes, (err) => { if (err) reject(new TransportError('ERR_TRANSPORT_LINK', err.message, { reason: 'write' })); else if (ok) resolve(); });
      if (!ok) {
        const onDrain = (): void => { this.#socket.off('close', onClose); resolve(); };
        const onClose = (): void => { this.#socket.off('drain', onDrain); reject(new TransportError('ERR_TRANSPORT_CLOSED', 'BtnCmd link closed while sending')); };
        this.#socket.once('drain', onDrain);
        this.#socket.once('close', onClose);
      }
    });
  }

  /** Next frame, or null once the link has ended cleanly; throws the error that dropped the link. */
  async next(): Promise<BtnCmdFrame | null> {
    for (;;) {
      const frame = this.#queue.shift();
      if (frame) {
        if (this.#paused && this.#queue.length < this.#maxQueued / 2) { this.#paused = false; this.#socket.resume(); }
        return frame;
      }
      if (this.#ended) {
        if (this.#error) throw this.#error;
        return null;
      }
      await new Promise<void>((r) => { this.#waiter = r; });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<BtnCmdFrame> {
    for (let f = await this.next(); f !== null; f = await this.next()) yield f;
  }

  /** Half-closes after pending writes, then waits for the socket to close. */
  async close(): Promise<void> {
    if (!this.#socket.destroyed) this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 2000);
    await this.closed;
    clearTimeout(timer);
  }

  /** Drops the link at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let items;
    try {
      items = this.#decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (e) {
      this.#fail(e as FrameError);
      return;
    }
    for (const item of items) {
      if (item.ok) this.#queue.push(item.frame);
      else this.emit('skipped', item.error);
    }
    if (this.#decoder.error) this.#fail(this.#decoder.error);
    else if (this.#queue.length >= this.#maxQueued && !this.#paused) { this.#paused = true; this.#socket.pause(); }
    this.#wake();
  }

  #fail(error: TransportError): void {
    this.#error ??= error;
    this.#socket.destroy();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }
}

export async function connectBtnCmd(options: BtnCmdLinkOptions & { readonly host?: string; readonly port: number; readonly connectTimeoutMs?: number }): Promise<BtnCmdLink> {
  const host = options.host ?? '127.0.0.1';
  const socket = createConnection({ host, port: options.port });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new TransportError('ERR_TRANSPORT_LINK', `connect to ${host}:${options.port} timed out`, { reason: 'connect-timeout' })); }, options.connectTimeoutMs ?? 10_000);
    socket.once('connect', () => { clearTimeout(timer); resolve(); });
    socket.once('error', (e) => { clearTimeout(timer); reject(new TransportError('ERR_TRANSPORT_LINK', `connect to ${host}:${options.port}: ${e.message}`, { reason: 'connect' })); });
  });
  return new BtnCmdLink(socket, options);
}

export interface BtnCmdServer {
  readonly port: number;
  /** Stops listening and drops every open link. */
  close(): Promise<void>;
}

export async function listenBtnCmd(options: BtnCmdLinkOptions & { readonly host?: string; readonly port?: number; readonly onLink: (link: BtnCmdLink) => void }): Promise<BtnCmdServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    options.onLink(new BtnCmdLink(socket, options));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new TransportError('ERR_TRANSPORT_LINK', `listen: ${e.message}`, { reason: 'listen' })));
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
