import { describe, it, expect, afterEach } from 'vitest';
import { createConnection } from 'node:net';
import { connectBtnCmd, listenBtnCmd, encodeFrame, BtnCmdFlag, FrameError, TransportError, type BtnCmdLink, type BtnCmdServer } from '../../../firmware/transport/index.ts';
import { until } from '../../until.ts';
import { POLL } from './transport-contract.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function server(opts: Parameters<typeof listenBtnCmd>[0]): Promise<BtnCmdServer> {
  const s = await listenBtnCmd(opts);
  cleanup.push(() => s.close());
  return s;
}

describe('BtnCmd TCP link', () => {
  it('request/reply: the server echoes seal{...} as a BTNR ack', async () => {
    const s = await server({ onLink: (link) => void (async () => {
      for await (const f of link) await link.send('ack', { got: f.name, height: f.body['height'] }, BtnCmdFlag.reply);
    })() });
    const c = await connectBtnCmd({ port: s.port });
    cleanup.push(() => c.destroy());
    await c.send('seal', { height: 1 });
    await c.send('seal', { height: 2 });
    expect(await c.next()).toMatchObject({ flag: BtnCmdFlag.reply, name: 'ack', body: { got: 'seal', height: 1 } });
    expect(await c.next()).toMatchObject({ body: { height: 2 } });
    await c.close();
    expect(await c.closed).toBeNull();
  });

  it('reassembles frames written one byte at a time and skips a bad body', async () => {
    const links: BtnCmdLink[] = [];
    const skipped: FrameError[] = [];
    const s = await server({ onLink: (l) => { links.push(l); l.on('skipped', (e: FrameError) => skipped.push(e)); } });
    const sock = createConnection({ port: s.port, host: '127.0.0.1' });
    cleanup.push(() => { sock.destroy(); });
    await new Promise((r) => sock.once('connect', r));
    const bad = encodeFrame('x', {});
    bad[8] = 0x39; // body '9{}' -> bad-body, framing intact
    const bytes = Buffer.concat([encodeFrame('a', { n: 1 }), bad, encodeFrame('b', { n: 2 })]);
    for (const b of bytes) { sock.write(Buffer.of(b)); await new Promise((r) => setImmediate(r)); }
    await until('link', () => links.length === 1, POLL);
    expect((await links[0]!.next())?.name).toBe('a');
    expect((await links[0]!.next())?.name).toBe('b');
    expect(skipped.map((e) => e.reason)).toEqual(['bad-body']);
  });

  it('drops the link on garbage that loses the framing (typed FrameError)', async () => {
    const links: BtnCmdLink[] = [];
    const s = await server({ onLink: (l) => links.push(l) });
    const sock = createConnection({ port: s.port, host: '127.0.0.1' });
    cleanup.push(() => { sock.destroy(); });
    const peerClosed = new Promise((r) => sock.once('close', r));
    sock.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await until('link', () => links.length === 1, POLL);
    const err = await links[0]!.closed;
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).reason).toBe('bad-flag');
    await expect(links[0]!.next()).rejects.toBeInstanceOf(FrameError);
    await peerClosed;
  });

  it('closes an idle link with ERR_TRANSPORT_LINK (reason idle)', async () => {
    const s = await server({ onLink: () => {}, idleTimeoutMs: 0 });
    const c = await connectBtnCmd({ port: s.port, idleTimeoutMs: 150 });
    const err = await c.closed;
    expect(err).toBeInstanceOf(TransportError);
    expect(err?.toObject()).toMatchObject({ code: 'ERR_TRANSPORT_LINK', reason: 'idle' });
  });

  it('backpressure: a consumer that does not read pauses the socket; the sender waits; nothing is lost or reordered', async () => {
    const links: BtnCmdLink[] = [];
    const s = await server({ onLink: (l) => links.push(l), maxQueuedFrames: 8 });
    const c = await connectBtnCmd({ port: s.port, maxPendingWriteBytes: 64 * 1024 * 1024 });
    cleanup.push(() => c.destroy());
    const pad = 'p'.repeat(16 * 1024);
    const N = 1500; // ~24 MiB: far more than the socket buffers on both sides
    let sent = 0;
    const sending = (async () => { for (let i = 0; i < N; i++) { await c.send('blob', { i, pad }); sent++; } })();
    await until('server queue full', () => links.length === 1 && links[0]!.queuedFrames >= 8, POLL);
    // give the sender every chance to push everything through if the server were not paused
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
    expect(links[0]!.queuedFrames).toBeLessThanOrEqual(8 + 64); // one read can complete a few frames past the mark
    expect(sent).toBeLessThan(N);
    const seen: number[] = [];
    for (let i = 0; i < N; i++) seen.push((await links[0]!.next())!.body['i'] as number);
    await sending;
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it('send() rejects instead of buffering without bound when the peer does not read', async () => {
    const links: BtnCmdLink[] = [];
    const s = await server({ onLink: (l) => links.push(l), maxQueuedFrames: 1 });
    const c = await connectBtnCmd({ port: s.port, maxPendingWriteBytes: 256 * 1024 });
    cleanup.push(() => c.destroy());
    const pad = 'q'.repeat(32 * 1024);
    let error: unknown = null;
    for (let i = 0; i < 10_000 && error === null; i++) {
      c.send('blob', { pad }).catch((e: unknown) => { error ??= e; });
      await new Promise((r) => setImmediate(r));
    }
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).toObject()).toMatchObject({ code: 'ERR_TRANSPORT_LINK', reason: 'backpressure' });
  });

  it('connect errors are typed', async () => {
    const s = await listenBtnCmd({ onLink: () => {} });
    const port = s.port;
    await s.close();
    await expect(connectBtnCmd({ port })).rejects.toMatchObject({ code: 'ERR_TRANSPORT_LINK' });
  });
});
