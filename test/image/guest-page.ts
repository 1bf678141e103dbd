// The guest's status page from the host, through QEMU's forward of its port 80: GET with the Host
// header the device answers to (its <HOSTNAME>.local), and its /status.json as JSON.
import { get as httpGet } from 'node:http';

const MAX_BODY = 4 * 1024 * 1024;

/** GET path with this Host header (fetch sends its own Host whatever it is given). */
export function getAs(port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path, headers: { host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        if (body.length > MAX_BODY) req.destroy(new Error(`the guest's ${path} is larger than ${MAX_BODY} bytes`));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from the guest's page as ${host}`)));
    req.on('error', reject);
  });
}

/** What the page's /status.json says, or null while the guest or its agent is not answering. */
export async function guestStatus(port: number, host: string): Promise<Record<string, any> | null> {
  try {
    const r = await getAs(port, host, '/status.json');
    return r.status === 200 ? (JSON.parse(r.body) as Record<string, any>) : null;
  } catch {
    return null;
  }
}
