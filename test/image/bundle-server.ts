// A host HTTP server for update bundles, as a vendor's download server: the files it was given,
// by name, on 127.0.0.1 (QEMU's user network shows it to the guest as 10.0.2.2). It counts what it
// served, so a test can tell a bundle was fetched (or that nothing was).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';

export interface BundleServer {
  /** Serves this file too (by its name). */
  serve(file: string): void;
  /** The URL the guest downloads a served file from. */
  urlFor(file: string): string;
  /** Names requested so far, in order. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

export async function startBundleServer(files: readonly string[], guestHost = '10.0.2.2'): Promise<BundleServer> {
  const byName = new Map(files.map((f) => [basename(f), f]));
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    requests.push(name);
    const file = byName.get(name);
    if (file === undefined || req.method !== 'GET') {
      res.statusCode = 404;
      res.end();
      return;
    }
    void stat(file).then((s) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': s.size });
      createReadStream(file).pipe(res);
    }, () => {
      res.statusCode = 404;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    serve: (file) => void byName.set(basename(file), file),
    urlFor: (file) => {
      if (!byName.has(basename(file))) throw new Error(`${file} is not served`);
      return `http://${guestHost}:${port}/${encodeURIComponent(basename(file))}`;
    },
    requests,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
