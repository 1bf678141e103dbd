// btn-provision end to end as people and scripts run it: real processes, a real swtpm device,
// a real SQLite file, the registrar on a free port.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyRevocationList } from '../../provisioning/registration/index.ts';
import { startDevices, type DeviceLab } from './devices.ts';

const BIN = new URL('../../provisioning/bin/btn-provision.js', import.meta.url).pathname;
let dir: string;
let lab: DeviceLab;
let serve: ChildProcess | null = null;

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, BTN_ADMIN_TOKEN: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'btn-prov-cli-'));
  lab = await startDevices(1);
});
afterAll(async () => {
  serve?.kill('SIGTERM');
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('btn-provision', () => {
  it('keygen writes a 0600 key file, prints the public key, never overwrites', async () => {
    const r = await run('keygen', '--out', 'root.key');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(dir, 'root.key')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, 'root.key'), 'utf8')).publicKey).toBe(r.stdout.trim());
    const again = await run('keygen', '--out', 'root.key');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists already.*ERR_PROV_KEY_FILE/);
    expect((await run('keygen')).code).toBe(2);
  });

  it('serve refuses a root key, an operator token or a broker admin file that others can read or write', async () => {
    expect((await run('keygen', '--out', 'open.key')).code).toBe(0);
    chmodSync(join(dir, 'open.key'), 0o644);
    const key = await run('serve', '--db', 'sqlite:open.db', '--port', '0', '--root-key', 'open.key', '--trust', lab.caDir);
    expect(key.code).toBe(1);
    expect(key.stderr).toMatch(/key file open\.key is open to group or others \(mode 0644\); make it the owner's alone: chmod 600 open\.key.*ERR_PROV_KEY_FILE/);
    chmodSync(join(dir, 'open.key'), 0o600);
    writeFileSync(join(dir, 'token'), 'a-token-of-at-least-16-chars\n', { mode: 0o666 });
    chmodSync(join(dir, 'token'), 0o666);
    const token = await run('serve', '--db', 'sqlite:open.db', '--port', '0', '--root-key', 'open.key', '--trust', lab.caDir, '--admin-token-file', 'token');
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/operator token file token is open to group or others \(mode 0666\)/);
  });

  it('manufacturer add, batch sign/verify/upload to serve, nodes list, revoke', async () => {
    const makerPub = (await run('keygen', '--out', 'maker.key')).stdout.trim();
    const add = await run('manufacturer', 'add', '--db', 'sqlite:p.db', '--name', 'acme', '--public-key', makerPub);
    expect(JSON.parse(add.stdout)).toMatchObject({ name: 'acme', outcome: 'added' });
    writeFileSync(join(dir, 'batch.jsonl'), JSON.stringify(lab.devices[0]!.line) + '\n' + '{"broken":\n');
    const sign = await run('batch', 'sign', '--batch', 'batch.jsonl', '--key', 'maker.key', '--manufacturer', 'acme');
    expect(sign.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'batch.jsonl.sig'), 'utf8'))).toMatchObject({ manufacturer: 'acme', lines: 2 });
    const verify = await run('batch', 'verify', '--batch', 'batch.jsonl', '--public-key', makerPub, '--trust', lab.caDir);
    expect(verify.code).toBe(1); // the broken line
    expect(JSON.parse(verify.stdout)).toMatchObject({ signature: 'valid', lines: 2, rejected: [{ line: 2, code: 'ERR_LINE_MALFORMED' }] });
    const other = (await run('keygen', '--out', 'other.key')).stdout.trim();
    expect(JSON.parse((await run('batch', 'verify', '--batch', 'batch.jsonl', '--public-key', other)).stdout).signature).toBe('INVALID');

    serve = spawn(process.execPath, [BIN, 'serve', '--db', 'sqlite:p.db', '--port', '0', '--root-key', 'root.key', '--trust', lab.caDir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      serve!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /"url":"(http:[^"]+)"/.exec(out);
        if (m) resolve(m[1]!);
      });
      serve!.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    const up = await run('batch', 'upload', '--batch', 'batch.jsonl', '--url', url);
    expect(up.code).toBe(3); // stored, one line refused
    expect(JSON.parse(up.stdout)).toMatchObject({ lines: 2, filed: 1, rejected: 1, rejectedLines: [{ line: 2, code: 'ERR_LINE_MALFORMED' }] });
    expect(up.stderr).toContain('upload 100%');

    const nodes = JSON.parse((await run('nodes', 'list', '--db', 'sqlite:p.db')).stdout) as { nodeId: string; state: string; serial: string }[];
    expect(nodes).toEqual([expect.objectContaining({ state: 'filed', serial: 'SN-0' })]);
    const viaHttp = await run('revoke', '--url', url, '--node', nodes[0]!.nodeId);
    expect(viaHttp.code).toBe(2); // no token given
    const rev = await run('revoke', '--db', 'sqlite:p.db', '--node', nodes[0]!.nodeId, '--reason', 'lost');
    expect(JSON.parse(rev.stdout)).toMatchObject({ outcome: 'revoked', revocationVersion: 1 });
    const rootPub = new Uint8Array(Buffer.from(JSON.parse(readFileSync(join(dir, 'root.key'), 'utf8')).publicKey, 'hex'));
    const list = verifyRevocationList(await (await fetch(`${url}/v1/revocations`)).json(), rootPub);
    expect(list.revoked.has(nodes[0]!.nodeId)).toBe(true);
    const exited = new Promise((resolve) => serve!.once('exit', resolve));
    serve.kill('SIGTERM');
    expect(await exited).toBe(0);
    serve = null;
  });

  it('unknown commands and missing options exit 2 with usage', async () => {
    expect((await run('nope')).code).toBe(2);
    const r = await run('batch', 'sign', '--batch', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--manufacturer is required/);
  });
});
